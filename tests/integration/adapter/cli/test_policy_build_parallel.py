"""`policy build` of a large file on every core (issue 13.5) gives the bytes a build in
one process gives: the CLI in a subprocess, with and without FREIGHTLINER_BUILD_WORKERS=1,
with and without the generated tests; and the checks spread over the cores (the loader's
prewarm child, the decides runs) report what one process reports."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrate.bundle.prewarm import prewarm_arguments, split_point
from migrate.core.errors import PolicyError
from migrate.policy import conditions
from migrate.policy.loader import load_policy_documents

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
from bench_decisions import make_policies


def _cli(source: Path, out: Path, *extra: str, workers: str | None = None) -> str:
    env = dict(os.environ)
    env.pop("FREIGHTLINER_BUILD_WORKERS", None)
    if workers is not None:
        env["FREIGHTLINER_BUILD_WORKERS"] = workers
    exe = Path(sys.executable).with_name("freightliner-policy")
    done = subprocess.run(
        [str(exe), "policy", "build", str(source), "-o", str(out), "-q", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split(" revision ")[1].split()[0]


def test_a_large_build_is_byte_identical_on_every_core_and_on_one(tmp_path: Path) -> None:
    # 2,500 policies in one file: the loader's prewarm child runs, the decides check has
    # two runs (on a machine of two cores or more), the tests are generated beside them
    source = tmp_path / "org.yaml"
    source.write_text(yaml.safe_dump(make_policies(2_500, "realistic"), sort_keys=False))
    revisions = {}
    for workers in (None, "1", "3"):
        for extra in ((), ("--no-tests",)):
            out = tmp_path / f"b-{workers}-{len(extra)}.tar.gz"
            revisions[(workers, extra)] = (_cli(source, out, *extra, workers=workers), out)
    for extra in ((), ("--no-tests",)):
        first_revision, first = revisions[(None, extra)]
        for workers in ("1", "3"):
            revision, out = revisions[(workers, extra)]
            assert revision == first_revision
            assert out.read_bytes() == first.read_bytes()
    assert revisions[(None, ())][0] != revisions[(None, ("--no-tests",))][0]


def _document(count: int, broken: dict[int, dict[str, Any]]) -> str:
    policies = []
    for n in range(count):
        policy: dict[str, Any] = {
            "id": f"p{n:03d}",
            "conditions": [
                {"type": "repository", "operator": "glob", "value": f"team-{n:03d}/*"},
                {"type": "tag", "operator": "matches", "value": f"^v{n}\\.[0-9]+$"},
            ],
            "actions": [{"type": "block"}],
        }
        policy.update(broken.get(n, {}))
        policies.append(policy)
    return yaml.safe_dump({"policies": policies}, sort_keys=False)


def test_the_prewarm_child_changes_no_problem_and_no_result(tmp_path: Path) -> None:
    bad_regex = {"conditions": [{"type": "tag", "operator": "matches", "value": "v1.(\\d"}]}
    bad_glob = {"conditions": [{"type": "repository", "operator": "glob", "value": "a[/*"}]}
    typo = {"actions": [{"type": "blok"}]}
    source = tmp_path / "p.yaml"
    source.write_text(_document(40, {3: bad_regex, 25: bad_regex, 33: bad_glob, 38: typo}))
    prewarm = functools.partial(prewarm_arguments, min_policies=4)
    with pytest.raises(PolicyError) as plain:
        load_policy_documents([source])
    conditions._ARGUMENTS.clear()
    with pytest.raises(PolicyError) as warmed:
        load_policy_documents([source], prewarm=prewarm)
    assert [str(d) for d in warmed.value.diagnostics] == [str(d) for d in plain.value.diagnostics]
    assert len(plain.value.diagnostics) == 4
    source.write_text(_document(40, {}))
    conditions._ARGUMENTS.clear()
    assert load_policy_documents([source], prewarm=prewarm) == load_policy_documents([source])


def test_the_later_part_is_checked_in_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "p.yaml"
    source.write_text(_document(40, {}))
    assert split_point(40, 4) == 18  # SHARE_HERE 0.45 here, the rest in the child
    parent = os.getpid()
    computed_here: list[Any] = []
    real = conditions._compute_argument

    def counted(ctype: str, key: str, op: str, value: Any, include_prerelease: bool = False) -> Any:
        if os.getpid() == parent:
            computed_here.append(value)
        return real(ctype, key, op, value, include_prerelease)

    monkeypatch.setattr(conditions, "_compute_argument", counted)
    conditions._ARGUMENTS.clear()
    load_policy_documents([source], prewarm=functools.partial(prewarm_arguments, min_policies=4))
    # the first 18 policies' two arguments each computed here, the other 22's in the child
    assert computed_here == [v for n in range(18) for v in (f"team-{n:03d}/*", f"^v{n}\\.[0-9]+$")]
    monkeypatch.setenv("FREIGHTLINER_BUILD_WORKERS", "1")
    computed_here.clear()
    conditions._ARGUMENTS.clear()
    load_policy_documents([source], prewarm=functools.partial(prewarm_arguments, min_policies=4))
    assert len(computed_here) == 80  # no child: everything here
