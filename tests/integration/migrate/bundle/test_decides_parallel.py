"""The decides check in runs, one forked child each (migrate/bundle/decides_parallel.py):
it finds a failing policy in any run, names the policy one check of every policy names
(whatever run it is in, whichever kind of failure), and replaces a child that dies by
the same run checked here. Real regorus engines, real forks, real bundles."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from migrate.bundle import decides, decides_parallel
from migrate.bundle.builder import Bundle, BundleBuilder
from migrate.bundle.decides import check_bundle_decides
from migrate.bundle.decides_parallel import ParallelDecidesCheck, run_count, split_runs
from migrate.core.errors import BundleError
from migrate.policy.loader import parse_policy_text

IDS = [f"p{n}" for n in range(9)]
ENGINE_ERROR = "the embedded engine fails to decide a synthetic image: compiled regex exceeded size limit (102400 bytes)"


@pytest.fixture(scope="module")
def built() -> tuple[Bundle, dict[str, Any]]:
    text = "policies:\n" + "".join(
        f"  - id: {pid}\n    conditions:\n"
        "      - {type: label, operator: exists, value: team}\n"
        "      - {type: tag, operator: matches, value: 't(a|e)g$'}\n"
        "    actions:\n      - {type: block}\n"
        for pid in IDS
    )
    builder = BundleBuilder(generate_tests=False)
    bundle = builder.build(parse_policy_text(text, "p.yaml"))
    return bundle, builder.data


def _line(pid: str) -> int:
    return 2 + 6 * IDS.index(pid)


def _engine_error(data: dict[str, Any], pid: str) -> str:
    data["freightliner"]["policy_set"]["policies"][pid]["leaves"][1]["arg"] = "^.{129,}$"
    return f"p.yaml:{_line(pid)}: policy {pid!r}: {ENGINE_ERROR}"


def _disagreement(data: dict[str, Any], pid: str) -> str:
    for check in data["freightliner"]["policy_set"]["policies"][pid]["alternatives"][0]:
        if check["subject"] == ["labels", "team"]:
            check["op"] = "absent"
    return (
        f"p.yaml:{_line(pid)}: policy {pid!r}: its compiled checks decide False where its "
        "conditions decide True on a synthetic image (a translator bug: please report it)"
    )


def _refusal(bundle: Bundle, data: dict[str, Any], runs: int) -> str | None:
    try:
        with ParallelDecidesCheck(bundle, data, runs=runs) as check:
            check.wait()
    except BundleError as exc:
        return str(exc)
    return None


def _single(bundle: Bundle, data: dict[str, Any]) -> str | None:
    try:
        check_bundle_decides(bundle, data)
    except BundleError as exc:
        return str(exc)
    return None


def test_runs_are_consecutive_and_balanced(monkeypatch: pytest.MonkeyPatch) -> None:
    assert split_runs(IDS, 3) == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6", "p7", "p8"]]
    assert split_runs(IDS, 4) == [["p0", "p1", "p2"], ["p3", "p4"], ["p5", "p6"], ["p7", "p8"]]
    assert split_runs(IDS[:2], 5) == [["p0"], ["p1"]]
    assert split_runs(IDS, 1) == [IDS]
    monkeypatch.setenv("FREIGHTLINER_BUILD_WORKERS", "3")
    assert [run_count(n) for n in (999, 1_000, 2_500, 10_000)] == [1, 1, 2, 3]
    assert run_count(9, min_run=3) == 3
    monkeypatch.setenv("FREIGHTLINER_BUILD_WORKERS", "1")
    assert run_count(10_000) == 1


def test_a_clean_bundle_passes_in_every_run(built: tuple[Bundle, dict[str, Any]]) -> None:
    bundle, data = built
    for runs in (1, 2, 3, 9):
        assert _refusal(bundle, data, runs) is None


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        # one engine error, in the last run
        ([(_engine_error, "p8")], "p8"),
        # one disagreement, in the last run
        ([(_disagreement, "p8")], "p8"),
        # two engine errors in different runs: the first in id order
        ([(_engine_error, "p7"), (_engine_error, "p2")], "p2"),
        # two disagreements in different runs: the first in id order
        ([(_disagreement, "p7"), (_disagreement, "p4")], "p4"),
        # an engine error beats an earlier disagreement (as one check of all reports it)
        ([(_disagreement, "p0"), (_engine_error, "p8")], "p8"),
    ],
)
def test_the_refusal_names_the_policy_one_check_names(
    built: tuple[Bundle, dict[str, Any]], broken: list[Any], expected: str
) -> None:
    bundle, clean = built
    data = copy.deepcopy(clean)
    messages = {pid: make(data, pid) for make, pid in broken}
    single = _single(bundle, data)
    assert single == messages[expected]
    for runs in (2, 3, 9):
        assert _refusal(bundle, data, runs) == single


def test_a_regex_the_embedded_engine_cannot_run_beats_everything(
    built: tuple[Bundle, dict[str, Any]],
) -> None:
    bundle, clean = built
    data = copy.deepcopy(clean)
    _disagreement(data, "p0")
    _engine_error(data, "p3")
    data["freightliner"]["policy_set"]["policies"]["p8"]["leaves"][1]["arg"] = "t(a|e)g\\C"
    expected = (
        "the embedded engine cannot run the bundle's regex: invalid escape sequence \\C "
        "(Go does not support it)"
    )
    assert _single(bundle, data) == expected
    assert _refusal(bundle, data, 3) == expected


def test_data_the_engine_cannot_load_is_reported_as_one_check_reports_it(
    built: tuple[Bundle, dict[str, Any]],
) -> None:
    """A NaN reaches the data (``exists`` ignores its value); the engine's reason names a
    column of the JSON it was given: the runs' JSON differs, the message must not."""
    bundle, clean = built
    data = copy.deepcopy(clean)
    _disagreement(data, "p0")
    data["freightliner"]["policy_set"]["policies"]["p7"]["leaves"][0]["value"] = float("nan")
    single = _single(bundle, data)
    assert single is not None
    assert single.startswith(
        "the embedded engine cannot load the bundle: expected value at line 1 column "
    )
    assert _refusal(bundle, data, 3) == single


def test_each_run_is_checked_in_its_own_child_and_only_its_policies(
    built: tuple[Bundle, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle, data = built
    parent = os.getpid()
    real = decides.decides_outcome

    def recorded(modules: Any, data: dict[str, Any], ids: list[str]) -> Any:
        loaded = sorted(data["freightliner"]["policy_set"]["policies"])
        (tmp_path / f"{os.getpid()}").write_text(",".join(loaded) + "|" + ",".join(ids))
        return real(modules, data, ids)

    monkeypatch.setattr(decides_parallel, "decides_outcome", recorded)
    assert _refusal(bundle, data, 3) is None
    seen = sorted(p.read_text() for p in tmp_path.iterdir())
    assert seen == ["p0,p1,p2|p0,p1,p2", "p3,p4,p5|p3,p4,p5", "p6,p7,p8|p6,p7,p8"]
    assert str(parent) not in {p.name for p in tmp_path.iterdir()}


def test_a_run_whose_child_dies_is_checked_here(
    built: tuple[Bundle, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, clean = built
    data = copy.deepcopy(clean)
    expected = _engine_error(data, "p8")
    parent = os.getpid()
    real = decides.decides_outcome

    def dies_in_the_child(modules: Any, data: dict[str, Any], ids: list[str]) -> Any:
        if os.getpid() != parent:
            os._exit(3)  # killed without an answer
        return real(modules, data, ids)

    monkeypatch.setattr(decides_parallel, "decides_outcome", dies_in_the_child)
    assert _refusal(bundle, data, 3) == expected


def test_no_fork_checks_everything_here_in_one_run(
    built: tuple[Bundle, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, clean = built
    data = copy.deepcopy(clean)
    expected = _disagreement(data, "p5")
    parent = os.getpid()
    calls: list[tuple[int, list[str]]] = []
    real = decides.decides_outcome

    def here(modules: Any, data: dict[str, Any], ids: list[str]) -> Any:
        calls.append((os.getpid(), ids))
        return real(modules, data, ids)

    monkeypatch.setattr(decides_parallel, "decides_outcome", here)
    monkeypatch.setenv("FREIGHTLINER_BUILD_WORKERS", "1")
    with pytest.raises(BundleError) as caught, ParallelDecidesCheck(bundle, data) as check:
        check.wait()
    assert str(caught.value) == expected
    assert calls == [(parent, IDS)]


def test_the_bulk_query_gives_what_self_check_gives(repo_root: Path, tmp_path: Path) -> None:
    """decides._QUERY shares the facts between both sides; row for row it is the
    library's self_check, on synthetic images and on images that match."""
    import json
    import sys

    import regorus
    import yaml

    from migrate.patterns.dialect import rust_policy_data
    from migrate.policy.loader import load_policy_documents

    sys.path.insert(0, str(repo_root / "benchmarks"))
    from bench_decisions import make_policies

    org = tmp_path / "org.yaml"
    org.write_text(yaml.safe_dump(make_policies(300, "realistic"), sort_keys=False))
    builder = BundleBuilder(generate_tests=False)
    bundle = builder.build(load_policy_documents([repo_root / "examples" / "policies", org]))
    engine = regorus.Engine()
    for path, text in sorted(decides.library_modules(bundle).items()):
        engine.add_policy(path, text)
    engine.add_data_json(json.dumps(rust_policy_data(builder.data)))
    policies = decides.bundle_policies(builder.data)
    variants = [
        {},
        {"tag": "prod-v1.2.3", "repository": "team-00001/app", "created_at": "not a time"},
        {"labels": {"environment": "production"}, "created_at": "2020-01-01T00:00:00Z"},
    ]
    library_query = (
        "r := [[id, x] | some id, p in data.freightliner.policy_set.policies; "
        "x := data.freightliner.replication.self_check(id, p, input.images[id], "
        "time.parse_rfc3339_ns(input.now))]"
    )
    matched = 0
    for variant in variants:
        images = {pid: {**decides.synthetic_image(p), **variant} for pid, p in policies.items()}
        engine.set_input_json(json.dumps({"images": images, "now": decides.SYNTHETIC_NOW}))
        rows = json.loads(engine.eval_query_as_json(decides._QUERY))["result"][0]["bindings"]["r"]
        expected = json.loads(engine.eval_query_as_json(library_query))["result"][0]["bindings"]
        assert rows == expected["r"]
        assert len(rows) == len(policies)
        matched += sum(1 for _, (tree, _compiled) in rows if tree)
    assert matched > 0
