"""The Celery application of queue mode, from the ``queue:`` settings.

Tasks are JSON, acknowledged late (``task_acks_late``: a worker that dies
mid-copy leaves the task unacknowledged; the broker gives it to another worker
after ``queue.visibility_timeout_seconds`` (checked every fifth of it, 1-10 s);
a copy still running then meets its own copy lock and waits; a pool process that dies is
rejected and requeued at once), one reserved task per worker thread
(``worker_prefetch_multiplier=1``), no result backend (progress is in the
shared state).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from adapter.config import QueueSettings
from adapter.queue.interface import TASK_NAME, CopyTask

__all__ = ["CeleryPublisher", "make_app"]


def make_app(settings: QueueSettings) -> Any:
    app = Celery("freightliner", broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue_name,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            # look for abandoned deliveries every visibility_timeout/5 s (1-10 s), not the
            # transport's default of about 100 s
            "unacked_restore_interval": max(
                1, min(10, int(settings.visibility_timeout_seconds / 5))
            ),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
    )
    return app


class CeleryPublisher:
    """:class:`adapter.queue.interface.TaskPublisher` over a Celery app (``send_task``)."""

    def __init__(self, app: Any, queue_name: str) -> None:
        self.app = app
        self.queue_name = queue_name

    def publish(self, task: CopyTask) -> None:
        self.app.send_task(
            TASK_NAME,
            args=[task.model_dump(mode="json")],
            queue=self.queue_name,
            task_id=f"{task.key}.{task.sweep_id}",
        )

    def close(self) -> None:
        self.app.close()
