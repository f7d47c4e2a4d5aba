"""block: nothing is written, the reason is reported; decided by the real seed bundle."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.actions.executor import DecisionExecutor
from adapter.metadata.registry_source import RegistryMetadataSource
from migrate.engine.embedded import EmbeddedEngine
from tests.fixtures.images import push_image
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.webhook import WebhookReceiver

pytestmark = pytest.mark.registry


def test_blocked_image_writes_nothing(
    registry: RunningRegistry, fresh_registry: RunningRegistry, unique_repo: str, seed_bundle: Any
) -> None:
    push_image(registry, unique_repo, "prod-v9", labels={"environment": "production"})
    source = registry.client(name="local")
    target = fresh_registry.client(name="ecr")
    metadata = RegistryMetadataSource({"local": source})
    [image] = metadata.get_metadata("local", unique_repo, "prod-v9")
    decision = EmbeddedEngine(seed_bundle.modules(), seed_bundle.data()).decide(image)
    executor = DecisionExecutor({"local": source, "ecr": target, "gcr": target})
    results = executor.execute(image, decision)
    assert [(r.action.type, r.status, r.detail) for r in results] == [
        ("block", "blocked", "Missing security scan")
    ]
    assert list(target.catalog()) == []
    assert executor.counters == {"blocked": 1}
    executor.close()


def test_blocked_image_is_still_notified(webhook: WebhookReceiver) -> None:
    from migrate.contract.decision import DecisionAction, ReplicationDecision
    from migrate.contract.image import ImageMetadata

    image = ImageMetadata(registry="local", repository="a", tag="t")
    decision = ReplicationDecision(
        should_replicate=False,
        reason="no scan",
        matched_policies=["b", "n"],
        metadata={"outcome": "block"},
        actions=[
            DecisionAction(type="block", policy_ids=["b"]),
            DecisionAction(type="notify", parameters={"url": webhook.url}, policy_ids=["n"]),
        ],
    )
    executor = DecisionExecutor({})
    results = executor.execute(image, decision)
    assert [(r.action.type, r.status, r.detail) for r in results] == [
        ("block", "blocked", "no scan"),
        ("notify", "notified", ""),
    ]
    [event] = [r.json() for r in webhook.requests]
    assert event["decision"] == {
        "outcome": "block",
        "reason": "no scan",
        "matched_policies": ["b", "n"],
    }
    assert event["policy_ids"] == ["n"]
    executor.close()
