"""Which engine made a decision, from which bundle revision.

Every decision the adapter acts on or answers with is made by exactly one of:

``opa``          the OPA sidecar (revision: the one OPA reports *with that answer*,
                 ``?provenance=true``);
``embedded``     the in-process regorus engine (revision: the bundle it compiled);
``legacy``       the legacy replication rules (failure_mode fail-open; no bundle: ``""``);
``fail-closed``  no engine could decide; the blocking decision (no bundle: ``""``).

Engines that know it return decisions with their provenance from ``decide_traced`` /
``decide_many_traced``; :func:`traced_many` asks any :class:`DecisionEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata

__all__ = ["ENGINE_NAMES", "EngineName", "Provenance", "Traced", "traced_many"]

EngineName = Literal["opa", "embedded", "legacy", "fail-closed"]
ENGINE_NAMES: tuple[EngineName, ...] = ("opa", "embedded", "legacy", "fail-closed")


@dataclass(frozen=True)
class Provenance:
    engine: EngineName
    revision: str


Traced = tuple[ReplicationDecision, Provenance]


def traced_many(
    engine: Any, images: Sequence[ImageMetadata], now: str | None, default: EngineName
) -> list[Traced]:
    """``engine``'s decisions with provenance: its own when it reports them, else
    ``default`` and the engine's ``revision``."""
    method = getattr(engine, "decide_many_traced", None)
    if method is not None:
        result: list[Traced] = method(images, now)
        return result
    decisions: list[ReplicationDecision] = (
        engine.decide_many(images, now=now) if now is not None else engine.decide_many(images)
    )
    revision = str(getattr(engine, "revision", "") or "")
    return [(d, Provenance(default, revision)) for d in decisions]
