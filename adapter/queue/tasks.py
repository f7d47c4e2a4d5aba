"""What a worker does with one copy task (the Celery task in :mod:`adapter.queue.worker` calls
:meth:`CopyRunner.run`).

1. A task its sweep already closed (a duplicate delivery) is dropped: no request.
2. The copy lock of the task's key (a PostgreSQL advisory lock) is taken, or the
   task comes back in a second (another worker copies the same digest to the
   same target right now).
3. Under the lock: a copy the shared state records already closes the task as
   ``already`` (no registry request); else the target registry's rate limit
   (:mod:`adapter.queue.ratelimit`) is waited for, and the decided digest is
   copied by the same executor and copier as the embedded mode
   (:class:`adapter.actions.executor.DecisionExecutor`; the tag is written last,
   so a copy cut short by ``kill -9`` leaves no tag) and recorded (``UNIQUE``).
4. A transient registry failure (connection error, 429/5xx) is retried after the
   registry's ``Retry-After`` (else ``retry_backoff_seconds``, doubling, capped),
   at most ``queue.max_retries`` times; then, or for any other failure, the task
   is ``failed`` with the error.
5. The decision's notify actions (carried by an image's first task) are sent once the copy
   ended for good (``copied``, or ``failed`` after the retries), as the embedded sweep does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from adapter.actions.executor import DecisionExecutor
from adapter.actions.notify import WebhookNotifier
from adapter.actions.replicate import CopyResult, ImageCopier, ImageLocation
from adapter.config import FreightlinerConfig, QueueSettings
from adapter.queue.interface import CopyTask
from adapter.queue.ratelimit import RateLimiter
from adapter.registry.client import RegistryClient
from adapter.registry.http import parse_retry_after
from adapter.registry.retry import registry_verdict
from adapter.state.postgres import PostgresState
from migrate.core.clock import now_rfc3339
from migrate.core.errors import FreightlinerError
from migrate.core.retry import RetrySettings

__all__ = ["CopyRunner", "TaskOutcome", "worker_name"]

log = logging.getLogger("freightliner.queue.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class TaskOutcome:
    """``status``: copied | already | failed | duplicate; ``retry_in``: come back then."""

    status: str
    retry_in: float | None = None
    reason: str = ""
    error: str = ""


class _CapturingCopier(ImageCopier):
    """The copier, remembering on each thread the error its last copy ended with."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def copy(
        self,
        source: ImageLocation | tuple[RegistryClient, str, str],
        target: ImageLocation | tuple[RegistryClient, str, str],
        retry: RetrySettings | None = None,
    ) -> CopyResult:
        self.local.error = None
        try:
            return super().copy(source, target, retry)
        except FreightlinerError as exc:
            self.local.error = exc
            raise


class CopyRunner:
    """Runs copy tasks in one worker process; thread-safe."""

    def __init__(
        self,
        config: FreightlinerConfig,
        settings: QueueSettings,
        state: PostgresState,
        limiter: RateLimiter,
        audit: Any = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.limiter = limiter
        self.audit = audit
        self.name = worker_name()
        concurrency = max(config.policy.maxConcurrency, 4)
        self.clients = {
            name: RegistryClient(config.registries.get(name), max_connections=concurrency)
            for name in config.registries
        }
        self.copier = _CapturingCopier()
        self.executor = DecisionExecutor(
            self.clients, copier=self.copier, notifier=WebhookNotifier(timeout=5.0)
        )

    def run(self, task: CopyTask, retries: int) -> TaskOutcome:
        status = self.state.task_status(task.sweep_id, task.key)
        if status is not None and status != "queued":
            return TaskOutcome("duplicate")
        with self.state.copy_lock(task.key) as held:
            if not held:
                return self._retry(task, 1.0, "busy")
            if self.state.replicated(task.source_digest, task.target) is not None:
                self._finish(task, "already")
                return TaskOutcome("already")
            taken, wait = self.limiter.reserve(task.action.target_registry)
            if not taken:
                return self._retry(task, wait, "rate_limit")
            if wait > 0:
                time.sleep(wait)
            log.info(
                "copy started",
                extra={
                    "fields": {
                        "event": "copy_started",
                        "task": task.key,
                        "sweep_id": task.sweep_id,
                        "target": task.target,
                        "worker": self.name,
                    }
                },
            )
            only_copy = task.decision.model_copy(update={"actions": [task.action]})
            [copy] = self.executor.execute(task.image, only_copy)
            if copy.status in {"replicated", "skipped"}:
                self.state.record(
                    task.source_digest,
                    task.target,
                    copy.target_digest or task.source_digest,
                    source=task.image.reference,
                    policy_id=task.policy_id,
                    bundle_revision=task.bundle_revision,
                )
                status = "copied" if copy.status == "replicated" else "already"
                self._finish(task, status, bytes_copied=copy.bytes_copied)
                self._notify(task)
                return TaskOutcome(status)
            error: FreightlinerError | None = getattr(self.copier.local, "error", None)
            verdict = registry_verdict(error) if error is not None else None
            if verdict is not None and retries < self.settings.max_retries:
                announced = parse_retry_after(verdict.retry_after)
                backoff = self.settings.retry_backoff_seconds * (2**retries)
                delay = announced if announced is not None else backoff
                return self._retry(
                    task, min(delay, self.settings.retry_backoff_max_seconds), "transient"
                )
            self._finish(task, "failed", error=copy.error)
            self._notify(task)
            return TaskOutcome("failed", error=copy.error)

    def _notify(self, task: CopyTask) -> None:
        """The decision's notify actions (first task of an image only), once the copy ended
        for good: not on a retry, and not when the state already recorded the copy."""
        notify = task.decision.notifications()
        if notify:
            self.executor.execute(task.image, task.decision.model_copy(update={"actions": notify}))

    def _retry(self, task: CopyTask, delay: float, reason: str) -> TaskOutcome:
        self.state.count_retry(task.sweep_id, task.key)
        log.info(
            "copy retried",
            extra={
                "fields": {
                    "event": "copy_retried",
                    "task": task.key,
                    "reason": reason,
                    "seconds": round(delay, 3),
                }
            },
        )
        return TaskOutcome("retry", retry_in=max(delay, 0.0), reason=reason)

    def _finish(self, task: CopyTask, status: str, error: str = "", bytes_copied: int = 0) -> None:
        self.state.finish_task(task.sweep_id, task.key, status, error, self.name)
        if self.audit is not None:
            self.audit.put(
                {
                    "kind": "execution",
                    "time": now_rfc3339(),
                    "source": "queue",
                    "decision_id": task.decision_id,
                    "sweep_id": task.sweep_id,
                    "policy_id": task.policy_id,
                    "bundle_revision": task.bundle_revision,
                    "image": task.image.as_input(),
                    "source_digest": task.source_digest,
                    "target": task.target,
                    "status": status,
                    "bytes_copied": bytes_copied,
                    "error": error,
                    "worker": self.name,
                }
            )
        log.info(
            "copy finished",
            extra={
                "fields": {
                    "event": "copy_finished",
                    "task": task.key,
                    "sweep_id": task.sweep_id,
                    "target": task.target,
                    "status": status,
                    "worker": self.name,
                }
            },
        )

    def close(self) -> None:
        self.executor.close()
        for client in self.clients.values():
            client.close()
