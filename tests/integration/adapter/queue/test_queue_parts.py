"""Queue mode's parts in-process against real servers: the rate limit (redis-server), a copy
task's Retry-After retry (PostgreSQL, docker-registry behind a fault proxy), and the scheduler's
failover (PostgreSQL, two and three schedulers on one database, a clock the test moves)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from adapter.config import FreightlinerConfig, QueueSettings
from adapter.queue.interface import CopyTask
from adapter.queue.leader import Leadership
from adapter.queue.ratelimit import RateLimiter
from adapter.queue.tasks import CopyRunner
from adapter.service.shared import LeaderScheduler
from adapter.state.postgres import PostgresState
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.policy.loader import load_policy_documents
from tests.fixtures.faults import FaultProxy
from tests.fixtures.images import push_image
from tests.fixtures.registry import RegistryFactory
from tests.fixtures.topology import wait_for
from tests.integration.adapter.service.policies import tag_policy


def test_the_rate_limit_spaces_copy_starts_per_target_registry(redis_url: str) -> None:
    one = RateLimiter(redis_url, {"dst": 5.0})
    other = RateLimiter(redis_url, {"dst": 5.0})  # another worker: the same bucket
    waits = []
    for limiter in [one, other, one, other, one, other]:
        taken, wait = limiter.reserve("dst", max_wait=1.0)
        assert taken
        waits.append(wait)
    # each start 0.2 s after the previous one (the calls themselves take a few ms)
    for index, wait in enumerate(waits):
        assert abs(wait - 0.2 * index) < 0.05, waits
    taken, wait = one.reserve("dst", max_wait=1.0)
    assert (taken, round(wait, 1)) == (False, 1.2)  # beyond max_wait: no slot taken
    assert one.reserve("src", max_wait=1.0) == (True, 0.0)  # no limit for src
    time.sleep(1.3)
    taken, wait = other.reserve("dst", max_wait=1.0)
    assert taken and wait < 0.05
    one.close()
    other.close()


def _task(sweep_id: int, image: Any, notify_url: str = "") -> CopyTask:
    metadata = ImageMetadata.model_validate(
        {
            "registry": "src",
            "repository": image.repository,
            "tag": image.tag,
            "digest": image.digest,
            "size": image.size,
        }
    )
    action = DecisionAction(
        type="replicate", target_registry="dst", target_repo="mirror/app", policy_ids=["p"]
    )
    notify = (
        [DecisionAction(type="notify", parameters={"url": notify_url}, policy_ids=["p"])]
        if notify_url
        else []
    )
    return CopyTask(
        sweep_id=sweep_id,
        policy_id="p",
        image=metadata,
        decision=ReplicationDecision(
            should_replicate=True, actions=[action, *notify], reason="test"
        ),
    )


def test_a_429_with_retry_after_retries_the_task_after_that_many_seconds(
    registry_factory: RegistryFactory, pg_url: str, webhook: Any
) -> None:
    src, dst = registry_factory.start(name="src"), registry_factory.start(name="dst")
    proxy = FaultProxy(dst)
    try:
        image = push_image(src, "team/app", "v1", seed=7)
        config = FreightlinerConfig.from_document(
            {"registries": {"src": {"url": src.url}, "dst": {"url": proxy.url}}}
        )
        settings = QueueSettings(
            broker="redis://127.0.0.1:1/0", retry_backoff_seconds=30, max_retries=2
        )
        state = PostgresState(pg_url, owner="t")
        runner = CopyRunner(config, settings, state, RateLimiter(settings.broker, {}))
        sweep_id = state.start_sweep("p", mode="queue")
        task = _task(sweep_id, image, notify_url=webhook.url)
        assert state.add_tasks(sweep_id, [(task.key, task.source_digest, task.target)]) == {
            task.key
        }
        state.mark_planned(sweep_id, 1)
        # the tag PUT answers 429 "Retry-After: 1" more often than the client retries in-process
        proxy.fail(
            r"/manifests/v1$", status=429, times=4, method="PUT", headers={"Retry-After": "1"}
        )
        outcome = runner.run(task, retries=0)
        assert (outcome.status, outcome.retry_in, outcome.reason) == ("retry", 1.0, "transient")
        assert state.task_status(sweep_id, task.key) == "queued"
        assert webhook.requests == []  # no notification while the copy is retried
        assert state.replicated(task.source_digest, task.target) is None
        again = runner.run(task, retries=1)
        assert again.status == "copied"
        progress = state.sweep(sweep_id)
        assert progress is not None
        assert (progress.result, progress.copied, progress.retries, progress.queued) == (
            "ok",
            1,
            1,
            0,
        )
        assert runner.run(task, retries=2).status == "duplicate"  # a late duplicate delivery
        [event] = webhook.wait_for(1)
        assert event.json()["image"]["digest"] == image.digest
        time.sleep(0.3)
        assert len(webhook.requests) == 1  # once, after the copy
        puts = [r for r in proxy.log if r.method == "PUT" and r.path.endswith("/manifests/v1")]
        assert [r.status for r in puts] == [429, 429, 429, 429, 201]
        runner.close()
        state.close()
    finally:
        proxy.stop()
        src.stop()
        dst.stop()


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _published(tmp_path: Path) -> Any:
    (tmp_path / "p.yaml").write_text(
        tag_policy("^v", policy_id="mirror", schedule="0 * * * * *", registry="src")
    )
    return SimpleNamespace(policy_set=load_policy_documents([tmp_path / "p.yaml"]))


def _scheduler(
    name: str, pg_url: str, clock: _Clock, calls: list[tuple[str, int]], published: Any
) -> LeaderScheduler:
    state = PostgresState(pg_url, owner=name)

    def sweep(sweep_id: int, policy_id: str, registries: list[str], stop: threading.Event) -> None:
        calls.append((name, sweep_id))
        state.finish_sweep(sweep_id, "ok", 0, 0, 0, 0)

    scheduler = LeaderScheduler(
        sweep,
        state,
        ["src"],
        Leadership(pg_url, name=name),
        mode="embedded",
        poll=0.05,
        tick=0.02,
        clock=clock,
    )
    scheduler.refresh(published)
    scheduler.start()
    return scheduler


def test_one_scheduler_fires_each_time_and_a_failover_neither_repeats_nor_skips(
    pg_url: str, tmp_path: Path
) -> None:
    published = _published(tmp_path)
    clock = _Clock(datetime(2026, 11, 29, 12, 0, 30, tzinfo=UTC))
    calls: list[tuple[str, int]] = []
    a = _scheduler("a", pg_url, clock, calls, published)
    wait_for(lambda: a.is_leader, 10.0, what="a leads")
    b = _scheduler("b", pg_url, clock, calls, published)
    time.sleep(0.3)
    assert (a.is_leader, b.is_leader) == (True, False)
    state = PostgresState(pg_url)

    def fired() -> list[tuple[str | None, str]]:
        return [(s.fire_time, s.result) for s in sorted(state.sweeps("mirror"), key=lambda s: s.id)]

    clock.now = datetime(2026, 11, 29, 12, 1, 0, 100000, tzinfo=UTC)
    wait_for(lambda: len(fired()) == 1 and fired()[0][1] == "ok", 10.0, what="12:01")
    time.sleep(0.3)  # b saw the fire time too, and did not run it
    assert [c[0] for c in calls] == ["a"]

    a.stop(1.0)  # the leader dies: its session (and the lock) is gone ...
    clock.now = datetime(2026, 11, 29, 12, 2, 30, tzinfo=UTC)  # ... and 12:02 passes leaderless
    wait_for(lambda: b.is_leader, 10.0, what="b takes over")
    wait_for(lambda: len(fired()) == 2, 10.0, what="the missed 12:02")
    clock.now = datetime(2026, 11, 29, 12, 3, 0, 100000, tzinfo=UTC)
    wait_for(lambda: len(fired()) == 3, 10.0, what="12:03")
    time.sleep(0.3)
    assert fired() == [
        ("2026-11-29T12:01:00Z", "ok"),
        ("2026-11-29T12:02:00Z", "ok"),
        ("2026-11-29T12:03:00Z", "ok"),
    ]
    assert [c[0] for c in calls] == ["a", "b", "b"]
    owners = [r[0] for r in state._exec("SELECT owner FROM sweeps ORDER BY id")]
    assert owners == ["a", "b", "b"]

    # b dies after claiming 12:04 but before planning it (a sweep row, not planned)
    b.stop(1.0)
    orphan = state.claim_fire("mirror", clock.now.replace(minute=4, microsecond=0), "embedded")
    assert orphan is not None
    clock.now = datetime(2026, 11, 29, 12, 4, 10, tzinfo=UTC)
    c = _scheduler("c", pg_url, clock, calls, published)
    wait_for(lambda: ("c", orphan) in calls, 10.0, what="c resumes the orphan sweep")
    time.sleep(0.3)
    assert calls == [("a", 1), ("b", 2), ("b", 3), ("c", orphan)]
    assert [t for t, _ in fired()] == [
        "2026-11-29T12:01:00Z",
        "2026-11-29T12:02:00Z",
        "2026-11-29T12:03:00Z",
        "2026-11-29T12:04:00Z",
    ]
    view = c.view()
    assert (view[0]["leader"], view[0]["last_sweep"]["fire_time"]) == (True, "2026-11-29T12:04:00Z")
    c.stop(1.0)
    state.close()


def test_a_sweep_whose_queued_tasks_stall_is_planned_again_not_skipped_forever(
    pg_url: str, tmp_path: Path
) -> None:
    published = _published(tmp_path)
    clock = _Clock(datetime(2026, 11, 29, 13, 0, 30, tzinfo=UTC))
    state = PostgresState(pg_url)
    stalled = state.claim_fire("mirror", datetime(2026, 11, 29, 13, 0, tzinfo=UTC), "queue")
    assert stalled is not None
    state.add_tasks(stalled, [("k", "sha256:" + "3" * 64, "dst/a:v1")])  # lost by the broker
    state.mark_planned(stalled, 1)
    calls: list[tuple[str, int]] = []
    d = _scheduler("d", pg_url, clock, calls, published)
    d.stale_after = 3600.0
    wait_for(lambda: d.is_leader, 10.0, what="d leads")
    clock.now = datetime(2026, 11, 29, 13, 1, 0, 100000, tzinfo=UTC)
    wait_for(lambda: d.view()[0]["skipped_fire_times"] == 1, 10.0, what="13:01 skipped")
    assert calls == []  # progress is recent: the open sweep is left to the workers
    d.stale_after = 0.5
    time.sleep(0.6)
    clock.now = datetime(2026, 11, 29, 13, 2, 0, 100000, tzinfo=UTC)
    wait_for(lambda: calls == [("d", stalled)], 10.0, what="the stalled sweep planned again")
    assert [s.fire_time for s in state.sweeps("mirror")] == ["2026-11-29T13:00:00Z"]
    d.stop(1.0)
    state.close()


def test_queue_metrics_read_the_broker_and_the_shared_state(redis_url: str, pg_url: str) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from adapter.queue.celery_app import CeleryPublisher, make_app
    from adapter.queue.metrics import register_queue_metrics
    from tests.fixtures.topology import parse_metrics

    settings = QueueSettings(broker=redis_url)
    state = PostgresState(pg_url)
    registry = CollectorRegistry()
    collector = register_queue_metrics(registry, redis_url, settings.queue_name, state)
    app = make_app(settings)
    publisher = CeleryPublisher(app, settings.queue_name)
    sweep = state.start_sweep("p", mode="queue")
    images = [
        SimpleNamespace(repository="team/app", tag=f"v{i}", digest="sha256:" + f"{i}" * 64, size=1)
        for i in range(3)
    ]
    tasks = [_task(sweep, image) for image in images]
    assert len({t.key for t in tasks}) == 3
    state.add_tasks(sweep, [(t.key, t.source_digest, t.target) for t in tasks])
    for task in tasks:  # no worker runs: they wait in the broker
        publisher.publish(task)
    state.count_retry(sweep, tasks[0].key)
    state.count_retry(sweep, tasks[0].key)
    state.finish_task(sweep, tasks[1].key, "failed", error="boom")
    samples = parse_metrics(generate_latest(registry).decode())
    assert {k: v for k, v in samples.items() if k.startswith("freightliner_queue")} == {
        "freightliner_queue_depth": 3.0,
        "freightliner_queue_in_flight": 0.0,
        "freightliner_queue_tasks_open": 2.0,
        "freightliner_queue_task_retries_total": 2.0,
        "freightliner_queue_task_failures_total": 1.0,
        "freightliner_queue_tasks_copied_total": 0.0,
    }
    collector.close()
    app.close()
    state.close()
