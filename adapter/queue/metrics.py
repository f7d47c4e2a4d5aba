"""Queue mode metrics as prometheus_client collectors (read when scraped).

Wire them into any :class:`prometheus_client.CollectorRegistry` with
:func:`register_queue_metrics`. Queue depth and in-flight tasks come from the
broker (Redis); retries, failures and open tasks are cluster-wide totals from the
shared state, the same on every replica (aggregate with ``max``, not ``sum``).

* ``freightliner_queue_depth``: copy tasks waiting in the broker queue;
* ``freightliner_queue_in_flight``: tasks delivered to a worker and not yet
  acknowledged (running, or reserved by a worker thread);
* ``freightliner_queue_tasks_open``: planned tasks not finished yet (state);
* ``freightliner_queue_task_retries_total``: retries (``Retry-After``/backoff,
  a busy copy lock, the rate limit);
* ``freightliner_queue_task_failures_total``: tasks that ended ``failed``;
* ``freightliner_queue_tasks_copied_total``: tasks that copied an image.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from adapter.state.postgres import PostgresState

__all__ = ["QueueCollector", "register_queue_metrics"]

log = logging.getLogger("freightliner.queue.metrics")
#: kombu's Redis transport keeps unacknowledged deliveries in this hash
_UNACKED = "unacked"
_PRIORITY_SEP = "\x06\x16"


class QueueCollector(Collector):
    def __init__(self, broker_url: str, queue_name: str, state: PostgresState) -> None:
        self.queue_name = queue_name
        self.state = state
        self._redis: Any = redis.Redis.from_url(broker_url, socket_timeout=2.0)

    def broker_counts(self) -> tuple[int, int]:
        """``(depth, in_flight)`` from the broker."""
        keys = [self.queue_name] + [f"{self.queue_name}{_PRIORITY_SEP}{p}" for p in range(1, 10)]
        depth = sum(int(self._redis.llen(k)) for k in keys)
        return depth, int(self._redis.hlen(_UNACKED))

    def collect(self) -> Iterator[Any]:
        try:
            depth, in_flight = self.broker_counts()
            yield GaugeMetricFamily(
                "freightliner_queue_depth", "Copy tasks waiting in the broker queue.", depth
            )
            yield GaugeMetricFamily(
                "freightliner_queue_in_flight",
                "Copy tasks delivered to a worker and not acknowledged yet.",
                in_flight,
            )
        except redis.RedisError as exc:
            log.warning("queue metrics: broker unreachable: %s", exc)
        counts = self.state.task_counts()
        yield GaugeMetricFamily(
            "freightliner_queue_tasks_open", "Planned copy tasks not finished yet.", counts.queued
        )
        yield CounterMetricFamily(
            "freightliner_queue_task_retries",
            "Copy task retries (Retry-After or backoff, busy copy lock, rate limit).",
            counts.retries,
        )
        yield CounterMetricFamily(
            "freightliner_queue_task_failures", "Copy tasks that ended failed.", counts.failed
        )
        yield CounterMetricFamily(
            "freightliner_queue_tasks_copied", "Copy tasks that copied an image.", counts.copied
        )

    def close(self) -> None:
        self._redis.close()


def register_queue_metrics(
    registry: CollectorRegistry, broker_url: str, queue_name: str, state: PostgresState
) -> QueueCollector:
    collector = QueueCollector(broker_url, queue_name, state)
    registry.register(collector)
    return collector
