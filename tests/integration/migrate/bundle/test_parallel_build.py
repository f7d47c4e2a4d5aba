"""The build's work on the other core (migrate/bundle/background.py): the same bytes
with and without it, its answers and refusals, and its fallbacks. Real forks, real
bundles; nothing is mocked but a child made to die."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from migrate.bundle import builder as builder_module
from migrate.bundle.background import Background, BackgroundCheck
from migrate.bundle.builder import BundleBuilder
from migrate.core.errors import BundleError, Diagnostic
from migrate.policy.loader import load_policy_documents

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
from bench_decisions import make_policies


@pytest.fixture
def org(tmp_path: Path) -> Path:
    source = tmp_path / "org.yaml"
    source.write_text(yaml.safe_dump(make_policies(300, "realistic"), sort_keys=False))
    return source


def _build(
    paths: list[Path], *, parallel: bool, tests: bool = True
) -> tuple[dict[str, bytes], str]:
    builder = BundleBuilder(generate_tests=tests, parallel=parallel)
    seen: list[set[str]] = []
    bundle = builder.build(
        load_policy_documents(paths), on_data=lambda files, data: seen.append(set(files))
    )
    # on_data saw the library (no data.json yet, no tests), and the data as built
    assert len(seen) == 1 and not any(p.startswith("freightliner/generated/") for p in seen[0])
    assert "data.json" not in seen[0]
    assert builder.data == bundle.data()
    return bundle.files, bundle.revision


def test_parallel_build_is_byte_identical(repo_root: Path, org: Path) -> None:
    for paths in ([repo_root / "examples" / "policies"], [org]):
        serial = _build(paths, parallel=False)
        assert _build(paths, parallel=True) == serial
        tests = [p for p in serial[0] if p.startswith("freightliner/generated/")]
        assert len(tests) >= 5


def test_no_fork_gives_the_same_bytes(org: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _build([org], parallel=False)
    monkeypatch.setenv("FREIGHTLINER_BUILD_WORKERS", "1")
    assert _build([org], parallel=True) == serial


def test_a_test_generator_that_dies_is_replaced_by_the_same_work_here(
    org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = _build([org], parallel=False)
    parent = os.getpid()
    real = builder_module._test_modules

    def dies_in_the_child(tested: list, *, recompile: bool = False) -> list:  # type: ignore[type-arg]
        if os.getpid() != parent:
            os._exit(3)  # killed without an answer
        return real(tested, recompile=recompile)

    monkeypatch.setattr(builder_module, "_test_modules", dies_in_the_child)
    # by then the compiled forms were optimised in place: the fallback compiles again
    assert _build([org], parallel=True) == serial


def test_background_value_refusal_and_fallback() -> None:
    parent = os.getpid()
    with Background(lambda: (os.getpid(), {"a": [1, 2]})) as work:
        pid, value = work.result()
    assert pid != parent and value == {"a": [1, 2]}

    def refuse() -> None:
        raise BundleError("no", [Diagnostic("bad", file="p.yaml", line=3, policy_id="p")])

    with pytest.raises(BundleError) as caught, BackgroundCheck(refuse) as check:
        check.wait()
    assert caught.value.message == "no"
    assert [d.render() for d in caught.value.diagnostics] == ["p.yaml:3: policy 'p': bad"]

    def dies() -> int:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return os.getpid()

    with Background(dies) as fallback:
        assert fallback.result() == parent  # the child gave no answer: computed here

    def other_error() -> None:
        raise ValueError("the real error")

    with pytest.raises(ValueError, match="the real error"), BackgroundCheck(other_error) as check:
        check.wait()  # re-run here, raising what the check raises


def test_leaving_without_waiting_stops_the_child(tmp_path: Path) -> None:
    marker = tmp_path / "finished"

    def slow() -> None:
        time.sleep(5)
        marker.write_text("x")

    start = time.monotonic()
    with pytest.raises(RuntimeError), BackgroundCheck(slow):
        raise RuntimeError("the build failed meanwhile")
    assert time.monotonic() - start < 2
    time.sleep(0.2)
    assert not marker.exists()
