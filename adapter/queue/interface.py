"""Queue mode's contract: one copy task per image x target, carrying the decided digest.

A task names the image (its metadata as decided: ``index_digest`` or ``digest``
is what is copied, never what the source tag points at when the worker runs),
one replicate action (and, on the image's first task, the decision's notify
actions) and the sweep it belongs to. Its key, ``sha256(source digest NUL
target)``, is the same in every sweep: the shared state records a copy under it
once, and a worker copies it only while holding its lock (idempotent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from adapter.actions.executor import target_of
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata

__all__ = [
    "TASK_NAME",
    "CopyTask",
    "DecisionCapture",
    "Decisions",
    "TaskPublisher",
    "task_key",
]

#: the Celery task name workers register and planners send
TASK_NAME = "freightliner.copy"


def task_key(source_digest: str, target: str) -> str:
    return hashlib.sha256(f"{source_digest}\0{target}".encode()).hexdigest()


class CopyTask(BaseModel):
    """The JSON body of one copy task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sweep_id: int
    policy_id: str
    bundle_revision: str = ""
    decision_id: str = ""
    image: ImageMetadata
    decision: ReplicationDecision

    @field_validator("decision")
    @classmethod
    def _one_replication(cls, value: ReplicationDecision) -> ReplicationDecision:
        if len(value.replications()) != 1 or value.blocked:
            raise ValueError("a copy task carries exactly one replicate action and no block")
        return value

    @property
    def action(self) -> DecisionAction:
        return self.decision.replications()[0]

    @property
    def source_digest(self) -> str:
        return self.image.index_digest or self.image.digest

    @property
    def target(self) -> str:
        return target_of(self.image, self.action)

    @property
    def key(self) -> str:
        return task_key(self.source_digest, self.target)


class TaskPublisher(Protocol):
    """Puts a task on the broker."""

    def publish(self, task: CopyTask) -> None: ...


class DecisionCapture(Protocol):
    """The decisions made on this thread: ``(reference, digest)`` -> an object with
    ``revision`` and ``decision_id``."""

    @property
    def decided(self) -> Mapping[tuple[str, str], Any]: ...


class Decisions(Protocol):
    def begin(self, source: str) -> DecisionCapture: ...
