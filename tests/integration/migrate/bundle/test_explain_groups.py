"""Explanations of explicit groups (issue 17 item 6): a ``not:`` (and ``any:`` / ``all:``) group
shows its own verdict above its conditions', in both engines (the reference ``opa`` and the
embedded regorus engine), pinned line by line as ``--explain`` prints them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.cli.policy import render_decision_text
from migrate.bundle.builder import BundleBuilder
from migrate.contract.decision import parse_decision
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents
from tests.opa_cli import opa_eval

pytestmark = [pytest.mark.opa]

NOW = "2026-11-29T12:00:00Z"
POLICY = {
    "policies": [
        {
            "id": "nested",
            "priority": 10,
            "conditions": [
                {
                    "any": [
                        {"not": {"type": "tag", "operator": "matches", "value": "^dev-"}},
                        {
                            "all": [
                                {"type": "label", "operator": "exists", "value": "team"},
                                {
                                    "not": {
                                        "any": [
                                            {
                                                "type": "repository",
                                                "operator": "glob",
                                                "value": "scratch/*",
                                            },
                                            {
                                                "type": "metadata",
                                                "key": "size",
                                                "operator": "gt",
                                                "value": "1000",
                                            },
                                        ]
                                    }
                                },
                            ]
                        },
                    ]
                },
                {"not": {"type": "label", "operator": "equals", "value": "lab.skip=true"}},
            ],
            "actions": [{"type": "replicate", "target_registry": "lab", "target_repo": "m"}],
        }
    ]
}

#: lab.skip=true: the top-level not: fails although its condition holds.
SKIPPED: dict[str, Any] = {
    "registry": "r",
    "repository": "team/app",
    "tag": "v1",
    "labels": {"lab.skip": "true"},
    "size": 10,
}
SKIPPED_LINES = [
    "outcome: no_match",
    "reason: no policy matched the image",
    "policy nested (priority 10): not matched",
    "  ✓ conditions[0]: any of 2 (the conditions below)",
    "  ✓ conditions[0].any[0]: not (holds when the condition below does not)",
    '  ✗ conditions[0].any[0].not: tag matches "^dev-" (actual: "v1")',
    "  ✗ conditions[0].any[1]: all of 2 (the conditions below)",
    '  ✗ conditions[0].any[1].all[0]: label[team] exists "team" (actual: null)',
    "  ✓ conditions[0].any[1].all[1]: not (holds when the condition below does not)",
    "  ✗ conditions[0].any[1].all[1].not: any of 2 (the conditions below)",
    '  ✗ conditions[0].any[1].all[1].not.any[0]: repository glob "scratch/*" (actual: "team/app")',
    '  ✗ conditions[0].any[1].all[1].not.any[1]: metadata[size] gt "1000" (actual: 10)',
    "  ✗ conditions[1]: not (holds when the condition below does not)",
    '  ✓ conditions[1].not: label[lab.skip] equals "lab.skip=true" (actual: "true")',
]
#: a dev tag in a scratch repository: every group fails but the top-level not:.
DEV: dict[str, Any] = {
    "registry": "r",
    "repository": "scratch/app",
    "tag": "dev-1",
    "labels": {"team": "a"},
    "size": 10,
}
DEV_LINES = [
    "outcome: no_match",
    "reason: no policy matched the image",
    "policy nested (priority 10): not matched",
    "  ✗ conditions[0]: any of 2 (the conditions below)",
    "  ✗ conditions[0].any[0]: not (holds when the condition below does not)",
    '  ✓ conditions[0].any[0].not: tag matches "^dev-" (actual: "dev-1")',
    "  ✗ conditions[0].any[1]: all of 2 (the conditions below)",
    '  ✓ conditions[0].any[1].all[0]: label[team] exists "team" (actual: "a")',
    "  ✗ conditions[0].any[1].all[1]: not (holds when the condition below does not)",
    "  ✓ conditions[0].any[1].all[1].not: any of 2 (the conditions below)",
    '  ✓ conditions[0].any[1].all[1].not.any[0]: repository glob "scratch/*" '
    '(actual: "scratch/app")',
    '  ✗ conditions[0].any[1].all[1].not.any[1]: metadata[size] gt "1000" (actual: 10)',
    "  ✓ conditions[1]: not (holds when the condition below does not)",
    '  ✗ conditions[1].not: label[lab.skip] equals "lab.skip=true" (actual: null)',
]
CASES = [(SKIPPED, SKIPPED_LINES), (DEV, DEV_LINES)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("explain") / "nested.yaml"
    path.write_text(yaml.safe_dump(POLICY, sort_keys=False))
    return BundleBuilder(generate_tests=False).build(load_policy_documents([path]))


@pytest.mark.parametrize(("image", "expected"), CASES, ids=["lab-skip", "dev-scratch"])
def test_embedded_explanation_lines(
    bundle: Any, image: dict[str, Any], expected: list[str]
) -> None:
    engine = EmbeddedEngine(bundle.modules(), bundle.data(), bundle.revision)
    decision = engine.decide(ImageMetadata(**image), now=NOW, explain=True)
    assert render_decision_text(decision, True) == expected


@pytest.mark.parametrize(("image", "expected"), CASES, ids=["lab-skip", "dev-scratch"])
def test_opa_explanation_lines(
    bundle: Any, opa_bin: str, tmp_path: Path, image: dict[str, Any], expected: list[str]
) -> None:
    tarball = tmp_path / "bundle.tar.gz"
    bundle.write_tarball(tarball)
    value = opa_eval(
        opa_bin,
        tarball,
        "data.freightliner.replication.decision",
        {"image": ImageMetadata(**image).as_input(), "now": NOW, "explain": True},
    )
    assert render_decision_text(parse_decision(value), True) == expected


def test_evaluate_explain_shows_every_candidates_lines(repo_root: Path, tmp_path: Path) -> None:
    """``evaluate --explain`` (not only ``policy eval``): a policy that did not match lists its
    lines too, groups included (the batch decision alone carries only matched policies')."""
    images = tmp_path / "images.json"
    images.write_text(
        '[{"registry": "gcr", "repository": "team/app", "tag": "nightly-20261122", '
        '"architecture": "arm64", "labels": {"lab.skip": "true"}}]'
    )
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "freightliner-policy"),
            "evaluate",
            "gcr/team/app:nightly-20261122",
            "--image-file",
            str(images),
            "--policies",
            str(repo_root / "examples" / "policies" / "platform.yaml"),
            "--explain",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "gcr/team/app:nightly-20261122",
        "  outcome: no_match",
        "  reason: no policy matched the image",
        "  policy arm-nightlies (priority 10): not matched",
        "    ✓ conditions[0]: any of 2 (the conditions below)",
        '    ✓ conditions[0].any[0]: metadata[architecture] in ["arm64", "arm"] (actual: "arm64")',
        '    ✓ conditions[0].any[1]: tag matches "^nightly-[0-9]{8}$" (actual: "nightly-20261122")',
        "    ✗ conditions[1]: not (holds when the condition below does not)",
        '    ✓ conditions[1].not: label[lab.skip] equals "lab.skip=true" (actual: "true")',
    ]
