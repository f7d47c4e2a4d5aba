"""notify: real loopback webhook receiver; a failed notification never undoes a replication."""

from __future__ import annotations

import time

import pytest

from adapter.actions.executor import DecisionExecutor
from adapter.actions.notify import WebhookNotifier, decision_event
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ActionError
from tests.fixtures.images import push_image
from tests.fixtures.registry import RunningRegistry, free_port
from tests.fixtures.webhook import WebhookReceiver

IMAGE = ImageMetadata(
    registry="local",
    repository="team/app",
    tag="prod-1",
    labels={"environment": "production"},
    digest="sha256:" + "cd" * 32,
)
WHEN = "2026-11-23T12:00:00.000000Z"


def _decision(url: str, *, replicate_to: str = "", block: bool = False) -> ReplicationDecision:
    actions = []
    if replicate_to:
        actions.append(
            DecisionAction(
                type="replicate",
                target_registry="target",
                target_repo=replicate_to,
                target_tag="",
                policy_ids=["p-copy"],
                priority=10,
            )
        )
    if block:
        actions.append(
            DecisionAction(type="block", parameters={"reason": "no scan"}, policy_ids=["p-block"])
        )
    actions.append(
        DecisionAction(type="notify", parameters={"url": url}, policy_ids=["p-notify", "p-other"])
    )
    return ReplicationDecision(
        should_replicate=bool(replicate_to) and not block,
        actions=actions,
        matched_policies=["p-copy", "p-notify"],
        reason="because",
        metadata={"outcome": "block" if block else ("replicate" if replicate_to else "no_action")},
    )


def test_event_shape_and_delivery(webhook: WebhookReceiver) -> None:
    decision = _decision(webhook.url)
    notifier = WebhookNotifier(timeout=2.0)
    notifier.send(webhook.url, decision_event(IMAGE, decision, ["p-notify"], WHEN))
    notifier.close()
    [received] = webhook.requests
    assert (received.method, received.path) == ("POST", "/hooks/freightliner")
    assert received.headers["content-type"] == "application/json"
    assert received.json() == {
        "event": "freightliner.decision",
        "image": IMAGE.as_input(),
        "decision": {
            "outcome": "no_action",
            "reason": "because",
            "matched_policies": ["p-copy", "p-notify"],
        },
        "policy_ids": ["p-notify"],
        "time": WHEN,
    }
    assert (notifier.sent, notifier.failed) == (1, 0)


def test_retries_5xx_then_delivers(webhook: WebhookReceiver) -> None:
    webhook.fail_next(2, 503)
    notifier = WebhookNotifier(timeout=2.0, retries=2, backoff=0.01)
    notifier.send(webhook.url, {"event": "x"})
    assert [r.status for r in webhook.requests] == [503, 503, 200]
    assert (notifier.sent, notifier.failed) == (1, 0)
    notifier.close()


def test_4xx_fails_at_once(webhook: WebhookReceiver) -> None:
    webhook.fail_next(5, 404)
    notifier = WebhookNotifier(timeout=2.0, retries=3, backoff=0.01)
    with pytest.raises(ActionError, match=r"failed: HTTP 404 \(after 1 attempt\(s\)\)"):
        notifier.send(webhook.url, {"event": "x"})
    assert len(webhook.requests) == 1
    assert (notifier.sent, notifier.failed) == (0, 1)
    notifier.close()


def test_timeout_and_nothing_listening(webhook: WebhookReceiver) -> None:
    webhook.delay = 1.0
    notifier = WebhookNotifier(timeout=0.2, retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(ActionError, match=r"timed out after 0.2s \(after 2 attempt\(s\)\)"):
        notifier.send(webhook.url, {"event": "x"})
    assert time.monotonic() - started < 1.5
    with pytest.raises(ActionError, match=r"ConnectError"):
        notifier.send(f"http://127.0.0.1:{free_port()}/hook", {"event": "x"})
    with pytest.raises(ActionError, match="not an http"):
        notifier.send("ftp://127.0.0.1/x", {"event": "x"})
    assert notifier.failed == 3
    notifier.close()


@pytest.mark.registry
def test_failed_notification_does_not_undo_a_replication(
    registry: RunningRegistry,
    fresh_registry: RunningRegistry,
    unique_repo: str,
    webhook: WebhookReceiver,
) -> None:
    pushed = push_image(registry, unique_repo, "prod-1")
    image = IMAGE.model_copy(update={"repository": unique_repo, "digest": pushed.digest})
    webhook.fail_next(10, 500)
    executor = DecisionExecutor(
        {"local": registry.client(), "target": fresh_registry.client()},
        notifier=WebhookNotifier(timeout=2.0, retries=1, backoff=0.01),
    )
    results = executor.execute(image, _decision(webhook.url, replicate_to="mirror/app"))
    assert [(r.action.type, r.status, r.target) for r in results] == [
        ("replicate", "replicated", "target/mirror/app:prod-1"),
        ("notify", "failed", webhook.url),
    ]
    assert results[1].error == (
        f"notification to {webhook.url} failed: HTTP 500 (after 2 attempt(s))"
    )
    assert fresh_registry.client().get_manifest("mirror/app", "prod-1").digest == pushed.digest
    assert executor.counters == {"replicated": 1, "notify.failed": 1}
    assert len(webhook.requests) == 2
    executor.close()


def test_dry_run_sends_nothing(webhook: WebhookReceiver) -> None:
    executor = DecisionExecutor({})
    results = executor.execute(IMAGE, _decision(webhook.url), dry_run=True)
    assert [(r.action.type, r.status, r.target) for r in results] == [
        ("notify", "planned", webhook.url)
    ]
    assert webhook.requests == []
    executor.close()
