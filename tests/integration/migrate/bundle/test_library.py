"""The hand-written Rego library: its own tests under both engines, and layout rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrate.bundle.builder import BundleBuilder
from migrate.bundle.library import library_files
from migrate.bundle.tester import run_bundle_tests
from migrate.policy.model import PolicySet


@pytest.mark.parametrize("runner", ["opa", "embedded"])
def test_library_tests_pass(runner: str, opa_bin: str) -> None:
    bundle = BundleBuilder().build(PolicySet())
    report = run_bundle_tests(bundle, runner)
    assert report.failed == 0, [o for o in report.outcomes if not o.passed]
    rego_tests = sum(
        len(set(re.findall(r"^(test_\w+)", text.decode(), re.M)))
        for path, text in library_files().items()
        if path.endswith("_test.rego")
    )
    assert report.passed == rego_tests >= 30


def test_every_module_has_a_test_beside_it_and_package_matches_path(repo_root: Path) -> None:
    rego = repo_root / "rego"
    for module in rego.rglob("*.rego"):
        if module.name.endswith("_test.rego"):
            continue
        assert module.with_name(module.stem + "_test.rego").exists(), module
        package = re.search(r"^package (\S+)", module.read_text(), re.M)
        assert package is not None
        assert package.group(1) == ".".join(module.parent.relative_to(rego).parts), module


def test_library_uses_v1_keywords_only(repo_root: Path) -> None:
    for module in (repo_root / "rego").rglob("*.rego"):
        text = module.read_text()
        assert "import rego.v1" not in text and "import future.keywords" not in text, module


def test_bundle_without_tests_decides_the_same(repo_root: Path, opa_bin: str) -> None:
    from migrate.policy.loader import load_policy_documents

    full = BundleBuilder().build(load_policy_documents([repo_root / "examples/policies"]))
    served = full.without_tests()
    assert not [p for p in served.files if p.endswith("_test.rego")]
    assert sorted(set(full.files) - set(served.files)) == sorted(
        p for p in full.files if p.endswith("_test.rego")
    )
    assert served.data() == full.data()
    assert served.revision != full.revision
    assert (
        BundleBuilder()
        .build(load_policy_documents([repo_root / "examples/policies"]))
        .without_tests()
        == served
    )
