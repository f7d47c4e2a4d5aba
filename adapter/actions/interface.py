"""The :class:`ActionExecutor` protocol: a decision's actions, executed for one image.

``replicate`` copies the image to each target (``skipped`` when the target
already has it), ``block`` writes nothing and reports the reason, ``notify``
POSTs a JSON event to a webhook. A failed notification never undoes a
replication. With ``dry_run`` nothing is written or sent: replications and
notifications are ``planned``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata

__all__ = ["ActionExecutor", "ActionResult", "ActionStatus"]

ActionStatus = Literal["replicated", "skipped", "blocked", "notified", "failed", "planned"]


@dataclass(frozen=True)
class ActionResult:
    """What one action did. ``target`` is ``registry/repo:tag`` (replicate) or the URL (notify)."""

    action: DecisionAction
    status: ActionStatus
    target: str = ""
    detail: str = ""
    bytes_copied: int = 0
    error: str = ""
    warning: str = ""  # e.g. the source tag moved since the decision (the decided digest copied)
    #: replicate: the digest the target tag holds now (copied, found, or kept by skip_existing)
    target_digest: str = ""
    #: replicate: the decided source digest (the source index for ``platforms: allowed``)
    source_digest: str = ""
    #: replicate, ``platforms: allowed``: platforms copied into the new index and left out
    platforms_copied: tuple[str, ...] = ()
    platforms_left_out: tuple[str, ...] = ()
    #: replicate, ``with_referrers``: referrer digests copied now or already at the target,
    #: ``digest: reason`` of those the policy kept back
    referrers_copied: tuple[str, ...] = ()
    referrers_present: tuple[str, ...] = ()
    referrers_blocked: tuple[str, ...] = ()
    #: replicate: wall-clock seconds this action took (reads, copy, tag)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class ActionExecutor(Protocol):
    """Executes a decision's actions for one image (one tag; all its platforms)."""

    def execute(
        self, image: ImageMetadata, decision: ReplicationDecision, *, dry_run: bool = False
    ) -> list[ActionResult]: ...
