"""The two example policies (examples/policies/seed.yaml) decide as docs/policies.md says, under
the embedded engine and under OPA (the reference `opa`, OPA's Go engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrate.bundle.builder import BundleBuilder
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.engine.embedded import EmbeddedEngine
from migrate.policy.loader import load_policy_documents
from tests.opa_cli import opa_decisions

NOW = "2026-11-23T12:00:00Z"
SCANNED = ImageMetadata(
    registry="docker-hub",
    repository="team/app",
    tag="prod-v1.0.0",
    labels={"environment": "production", "security.scan.status": "passed"},
)
UNSCANNED = SCANNED.model_copy(update={"labels": {"environment": "production"}})
UNRELATED = SCANNED.model_copy(
    update={"tag": "dev-1", "labels": {"security.scan.status": "passed"}}
)


@pytest.fixture(scope="module")
def seed_bundle(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = BundleBuilder().build(
        load_policy_documents([repo_root / "examples/policies/seed.yaml"])
    )
    out = tmp_path_factory.mktemp("seed") / "bundle.tar.gz"
    bundle.write_tarball(out)
    return out


def _decisions(engine: str, bundle: Path, opa: str | None) -> list[ReplicationDecision]:
    images = [SCANNED, UNSCANNED, UNRELATED]
    if engine == "embedded":
        return EmbeddedEngine.from_bundle(bundle).decide_many(images, now=NOW)
    assert opa is not None
    raw = opa_decisions(opa, bundle, [i.as_input() for i in images], NOW)
    return [ReplicationDecision.model_validate(d) for d in raw]


@pytest.fixture(params=["embedded", "opa"])
def decisions(request: pytest.FixtureRequest, seed_bundle: Path) -> list[ReplicationDecision]:
    opa = request.getfixturevalue("opa_bin") if request.param == "opa" else None
    return _decisions(request.param, seed_bundle, opa)


def _targets(decision: ReplicationDecision) -> list[tuple[str, ...]]:
    return [(a.type, a.target_registry, a.target_repo, a.target_tag) for a in decision.actions]


def test_scanned_prod_image_replicates_to_ecr_and_gcr(decisions: list[ReplicationDecision]) -> None:
    scanned = decisions[0]
    assert scanned.should_replicate is True
    assert scanned.outcome == "replicate"
    assert scanned.matched_policies == ["production-replication"]
    assert _targets(scanned) == [
        ("replicate", "ecr", "production/team/app", "prod-v1.0.0"),
        ("replicate", "gcr", "prod-mirror/team/app", "prod-v1.0.0"),
    ]


def test_unscanned_image_is_blocked_missing_security_scan(
    decisions: list[ReplicationDecision],
) -> None:
    unscanned = decisions[1]
    assert unscanned.should_replicate is False
    assert unscanned.outcome == "block"
    assert unscanned.reason == "Missing security scan"
    assert unscanned.matched_policies == ["compliance-blocking", "production-replication"]
    assert _targets(unscanned) == [("block", "", "", "")]
    assert unscanned.actions[0].parameters == {"reason": "Missing security scan"}


def test_image_matching_nothing_is_not_replicated(decisions: list[ReplicationDecision]) -> None:
    unrelated = decisions[2]
    assert unrelated.should_replicate is False
    assert unrelated.actions == []
    assert unrelated.matched_policies == []
    assert unrelated.reason == "no policy matched the image"


def test_engines_agree_on_the_whole_document(seed_bundle: Path, opa_bin: str) -> None:
    embedded = _decisions("embedded", seed_bundle, None)
    opa = _decisions("opa", seed_bundle, opa_bin)
    dumped: list[Any] = [d.model_dump(mode="json") for d in embedded]
    assert dumped == [d.model_dump(mode="json") for d in opa]
