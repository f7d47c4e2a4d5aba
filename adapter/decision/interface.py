"""The one interface behind which decisions are made: OPA over HTTP or the embedded engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from migrate.contract.decision import DECISION_PATH, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.contract.provenance import Traced
from migrate.core.errors import EngineError, EngineUnavailable, UndefinedDecision

__all__ = [
    "DECISION_PATH",
    "DecisionEngine",
    "EngineError",
    "EngineUnavailable",
    "TracedDecisions",
    "UndefinedDecision",
]


@runtime_checkable
class DecisionEngine(Protocol):
    """Evaluates ``data.freightliner.replication.decision`` for ``{"image": ...}``.

    Implementations raise :class:`UndefinedDecision` when the document is
    undefined and :class:`EngineUnavailable` when the engine cannot answer;
    they never return a decision they did not get.
    """

    def decide(self, image: ImageMetadata, now: str | None = None) -> ReplicationDecision:
        """``now`` is the contract's ``input.now`` (RFC 3339); default: the current time."""
        ...

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]: ...

    @property
    def revision(self) -> str: ...

    def close(self) -> None: ...


class TracedDecisions:
    """``decide`` and ``decide_many`` of an engine that reports where each decision came
    from: the decisions of its ``decide_traced`` / ``decide_many_traced``."""

    def decide_traced(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> Traced:
        raise NotImplementedError

    def decide_many_traced(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[Traced]:
        raise NotImplementedError

    def decide(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> ReplicationDecision:
        return self.decide_traced(image, now, explain=explain)[0]

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        return [d for d, _ in self.decide_many_traced(images, now)]
