"""Tests generated early (migrate/bundle/early_tests.py) for the policies loaded first, while
the others still load: the same bundle bytes as one process, the work split between the two
children, and a child that dies replaced by the same work here. Real forks, real bundles."""

from __future__ import annotations

import functools
import os
import select
import sys
from pathlib import Path

import pytest
import yaml

from migrate.bundle import builder as builder_module
from migrate.bundle import early_tests as early_module
from migrate.bundle.builder import BundleBuilder
from migrate.bundle.early_tests import EarlyTests
from migrate.bundle.prewarm import prewarm_arguments, split_point
from migrate.policy.loader import load_policy_documents

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
from bench_decisions import make_policies


@pytest.fixture
def org(tmp_path: Path) -> Path:
    source = tmp_path / "org.yaml"
    source.write_text(yaml.safe_dump(make_policies(60, "realistic"), sort_keys=False))
    return source


def _early_build(org: Path) -> tuple[dict[str, bytes], str, frozenset[str]]:
    with EarlyTests() as early:
        prewarm = functools.partial(prewarm_arguments, min_policies=4, on_split=early.start)
        policy_set = load_policy_documents([org], prewarm=prewarm)
        bundle = BundleBuilder(parallel=True).build(policy_set, early_tests=early)
    return bundle.files, bundle.revision, early.ids


def _serial_build(org: Path) -> tuple[dict[str, bytes], str]:
    bundle = BundleBuilder().build(load_policy_documents([org]))
    return bundle.files, bundle.revision


def test_early_tests_give_the_same_bundle(org: Path) -> None:
    files, revision, ids = _early_build(org)
    assert (files, revision) == _serial_build(org)
    # the policies before the split (in file order) were generated early
    raw = yaml.safe_load(org.read_text())
    assert ids == frozenset(p["id"] for p in raw[: split_point(len(raw), 4)])
    assert 0 < len(ids) < len(raw)


def test_the_builder_generates_only_the_others(
    org: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = builder_module._test_modules
    record = tmp_path / "rest.txt"

    def recorded(tested: list, *, recompile: bool = False) -> list:  # type: ignore[type-arg]
        with record.open("a") as out:  # from the builder's child
            out.write(",".join(loaded.policy.id for loaded, _ in tested) + "\n")
        return real(tested, recompile=recompile)

    monkeypatch.setattr(builder_module, "_test_modules", recorded)
    _, _, early = _early_build(org)
    raw = yaml.safe_load(org.read_text())
    others = sorted(p["id"] for p in raw if p["id"] not in early)
    assert early and others
    assert record.read_text().splitlines() == [",".join(others)]


def test_no_fork_generates_every_test_in_the_builder(
    org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = builder_module._test_modules
    seen: list[list[str]] = []

    def recorded(tested: list, *, recompile: bool = False) -> list:  # type: ignore[type-arg]
        seen.append([loaded.policy.id for loaded, _ in tested])
        return real(tested, recompile=recompile)

    monkeypatch.setenv("FREIGHTLINER_BUILD_WORKERS", "1")  # here: seen is this process's
    monkeypatch.setattr(builder_module, "_test_modules", recorded)
    files, revision, ids = _early_build(org)
    assert ids == frozenset()
    raw = yaml.safe_load(org.read_text())
    assert seen == [sorted(p["id"] for p in raw)]
    assert (files, revision) == _serial_build(org)


def test_an_early_child_that_dies_is_replaced_by_the_same_work_here(
    org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = _serial_build(org)
    parent = os.getpid()
    real = early_module.test_modules

    def dies_in_the_child(tested: list, *, recompile: bool = False) -> list:  # type: ignore[type-arg]
        if os.getpid() != parent:
            os._exit(3)  # killed without an answer
        return real(tested, recompile=recompile)

    monkeypatch.setattr(early_module, "test_modules", dies_in_the_child)
    files, revision, ids = _early_build(org)
    assert len(ids) == split_point(len(yaml.safe_load(org.read_text())), 4)
    # by then the compiled forms were optimised in place: the fallback compiles again
    assert (files, revision) == serial


def test_batches_start_when_the_previous_one_is_done(org: Path) -> None:
    """Later calls start another batch (the policies loaded since) only once the previous
    batch answered and enough were loaded; the bundle is the same."""
    policy_set = load_policy_documents([org])
    loaded = sorted(policy_set.policies, key=lambda p: p.line or 0)  # in file order
    with EarlyTests(min_batch=10) as early:
        early.start(loaded[:20])
        first = early._works[0]
        early.start(loaded[:25])  # busy (or too few new): nothing
        assert len(early._works) == 1 and early.ids == {p.policy.id for p in loaded[:20]}
        while not first.done():
            select.select([], [], [], 0.01)
        early.start(loaded[:25])  # done, but only 5 new: nothing
        assert len(early._works) == 1
        early.start(loaded[:40])  # done and 20 new: a second batch
        assert len(early._works) == 2
        assert early.ids == {p.policy.id for p in loaded[:40]}
        bundle = BundleBuilder(parallel=True).build(policy_set, early_tests=early)
    assert (bundle.files, bundle.revision) == _serial_build(org)
