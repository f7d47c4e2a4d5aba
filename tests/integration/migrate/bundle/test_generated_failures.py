"""A failing generated test names the policy, its file:line, the example and expected versus
actual (issue 17 item 6), with both runners and under a plain ``opa test`` of a built bundle."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from migrate.bundle.builder import BundleBuilder
from migrate.bundle.tester import run_bundle_tests
from migrate.policy.loader import load_policy_documents

pytestmark = [pytest.mark.opa]

WRONG = """\
policies:
  - id: "ex"
    priority: 5
    conditions:
      - type: tag
        operator: matches
        value: "^prod-"
    actions:
      - type: replicate
        target_registry: harbor
        target_repo: "mirror/{repository}"
    examples:
      - image: {registry: r, repository: team/app, tag: "prod-1"}
        matched: false
      - image: {registry: r, repository: team/app, tag: "prod-1"}
        matched: true
        targets: ["harbor/wrong/team/app:prod-1"]
      - image: {registry: r, repository: team/app, tag: "prod-1"}
        matched: true
        decision: {"should_replicate": false}
      - image: {registry: r, repository: team/app, tag: "prod-2"}
        matched: true
"""


def _expected(path: Path) -> dict[str, str]:
    policy = f"policy 'ex' ({path}:2)"
    return {
        "test_example_1": f"{policy}, example 1 (examples[0], image team/app:prod-1): "
        "matched: expected false, actual true",
        "test_example_2_targets": f"{policy}, example 2 (examples[1], image team/app:prod-1): "
        'replicate targets: expected {"harbor/wrong/team/app:prod-1"}, '
        'actual {"harbor/mirror/team/app:prod-1"}',
        "test_example_3_decision": f"{policy}, example 3 (examples[2], image team/app:prod-1): "
        'decision: expected (subset) {"should_replicate": false}, '
        'actual {"should_replicate": true}',
    }


@pytest.fixture
def wrong(tmp_path: Path) -> Path:
    path = tmp_path / "wrong.yaml"
    path.write_text(WRONG)
    return path


@pytest.mark.parametrize("runner", ["opa", "embedded"])
def test_failures_say_policy_file_line_example_expected_actual(
    wrong: Path, runner: str, opa_bin: str
) -> None:
    bundle = BundleBuilder().build(load_policy_documents([wrong]))
    report = run_bundle_tests(bundle, runner)
    failed = {o.name: o.error for o in report.outcomes if not o.passed}
    assert failed == _expected(wrong)
    assert {o.package for o in report.outcomes if not o.passed} == {
        "freightliner.generated.p_ex_5312fb60"
    }
    assert report.passed > 0  # example 4 and the derived tests pass, silently


def test_plain_opa_test_prints_the_same_lines(wrong: Path, opa_bin: str, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    BundleBuilder().build(load_policy_documents([wrong])).write_directory(out)
    done = subprocess.run(
        [opa_bin, "test", str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 2
    printed = [line.strip() for line in done.stdout.splitlines() if line.startswith("  policy")]
    assert printed == list(_expected(wrong).values())
