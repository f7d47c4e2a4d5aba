"""``freightliner-policy worker``: a Celery worker that runs copy tasks (queue mode).

The worker reads the same config file as ``serve`` (registries and their
credentials from the environment, ``queue:``, ``state:``), opens the shared state
(migrating its schema when needed) and consumes ``queue.queue_name``. Any number
of workers on any machines may run; each takes one task per pool thread at a
time (acks late, prefetch 1).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import psycopg
import redis
from pydantic import ValidationError

from adapter.config import FreightlinerConfig
from adapter.queue.celery_app import make_app
from adapter.queue.interface import TASK_NAME, CopyTask
from adapter.queue.ratelimit import RateLimiter
from adapter.queue.tasks import CopyRunner, worker_name
from adapter.state.postgres import AuditSink, PostgresState
from migrate.core.errors import ConfigError

__all__ = ["build_worker_app", "run_worker"]

log = logging.getLogger("freightliner.queue.worker")


class _Lazy:
    """One :class:`CopyRunner` per process (a prefork child builds its own after the fork)."""

    def __init__(self, config: FreightlinerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._pid = 0
        self._runner: CopyRunner | None = None

    def get(self) -> CopyRunner:
        with self._lock:
            if self._runner is None or self._pid != os.getpid():
                queue, state = self.config.queue, self.config.state
                assert queue is not None and state is not None
                db = PostgresState(
                    state.url, connect_timeout=state.connect_timeout_seconds, owner=worker_name()
                )
                limiter = RateLimiter(queue.broker, queue.rate_limits, queue.default_rate_limit)
                self._runner = CopyRunner(self.config, queue, db, limiter, AuditSink(db))
                self._pid = os.getpid()
            return self._runner


def build_worker_app(config: FreightlinerConfig) -> Any:
    """The Celery app with the copy task registered (``config`` must have queue and state)."""
    if config.queue is None or config.state is None:
        raise ConfigError(
            f"{config.source}: the worker needs queue.broker (Redis) and state.url (PostgreSQL)"
        )
    app = make_app(config.queue)
    runners = _Lazy(config)

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def copy(self: Any, payload: dict[str, Any]) -> str:
        try:
            task = CopyTask.model_validate(payload)
        except ValidationError as exc:
            log.error("copy task refused: %s", " ".join(str(exc).split()))
            return "refused"
        try:
            outcome = runners.get().run(task, int(self.request.retries or 0))
        except (psycopg.Error, redis.RedisError) as exc:  # the state or broker is away
            log.error("copy task deferred: %s", " ".join(str(exc).split()))
            raise self.retry(countdown=5, max_retries=None) from exc
        if outcome.retry_in is not None:
            raise self.retry(countdown=outcome.retry_in, max_retries=None)
        return outcome.status

    app.freightliner_runners = runners
    return app


def run_worker(
    config_path: Path, concurrency: int, pool: str, log_level: str, hostname: str | None
) -> None:
    """Run the worker until SIGTERM (warm shutdown: tasks in progress finish)."""
    config = FreightlinerConfig.load(config_path)
    app = build_worker_app(config)
    assert config.queue is not None and config.state is not None
    # open the state once before consuming: a wrong URL or a newer schema stops here
    PostgresState(config.state.url, connect_timeout=config.state.connect_timeout_seconds).close()
    argv = [
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--queues={config.queue.queue_name}",
        f"--loglevel={log_level.upper()}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    for noisy in ("httpx", "httpcore"):  # one line per request otherwise (Celery's log level)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app.worker_main(argv)
