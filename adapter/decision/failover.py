"""FailoverEngine: what the adapter decides when its decision engine cannot.

Wraps a primary :class:`DecisionEngine` (usually :class:`OpaHttpEngine`).
When the primary raises :class:`EngineError` - :class:`EngineUnavailable`
(OPA down, timeout, 5xx, circuit open), :class:`UndefinedDecision` (bundle
without the decision rule) or any other evaluation error - the configured
``opa.failure_mode`` applies:

``fail-closed`` (default)
    a *blocking* decision: ``should_replicate: false``, one ``block`` action,
    ``metadata.outcome = "block"``, ``metadata.engine_error`` = the error,
    and a reason that says the engine failed.
``fail-open``
    the seed's graceful degradation: the legacy replication rules
    (``replication.rules`` of the config) decide, via a :class:`LegacyEvaluator`.
    Without legacy rules this behaves as fail-closed, and the reason says so.
``embedded``
    the same bundle evaluated in-process (:class:`EmbeddedEngine`); if that
    fails too, fail-closed.

Every fallback decision carries ``metadata.failure_mode``,
``metadata.engine_error`` and ``metadata.engine_error_type``; each is
logged (warning) and counted in :attr:`FailoverEngine.counters`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from adapter.config import FailureMode
from adapter.decision.interface import DecisionEngine
from adapter.decision.model import DecisionAction, ReplicationDecision
from adapter.errors import ConfigError, EngineError
from adapter.metadata.model import ImageMetadata

__all__ = ["FailoverEngine", "LegacyEvaluator", "fail_closed_decision"]

_log = logging.getLogger("freightliner.decision.failover")


class LegacyEvaluator(Protocol):
    """Decides an image by the legacy replication rules (Freightliner's ``ShouldReplicate``)."""

    def decide(self, image: ImageMetadata) -> ReplicationDecision: ...


def fail_closed_decision(
    image: ImageMetadata, error: EngineError, why: str, mode: FailureMode = "fail-closed"
) -> ReplicationDecision:
    """The blocking decision returned when no engine could decide ``image``."""
    reason = f"blocked: {why}: {error.message}"
    return ReplicationDecision(
        should_replicate=False,
        actions=[DecisionAction(type="block", parameters={"reason": reason})],
        reason=reason,
        metadata={
            "outcome": "block",
            "failure_mode": mode,
            "fallback": "fail-closed",
            "engine_error": error.message,
            "engine_error_type": type(error).__name__,
        },
    )


class FailoverEngine:
    """A DecisionEngine that never raises EngineError: it applies ``mode`` instead."""

    def __init__(
        self,
        primary: DecisionEngine,
        mode: FailureMode = "fail-closed",
        *,
        embedded: DecisionEngine | None = None,
        legacy: LegacyEvaluator | None = None,
    ) -> None:
        if mode == "embedded" and embedded is None:
            raise ConfigError("failure_mode embedded needs a bundle for the embedded engine")
        self.primary = primary
        self.mode: FailureMode = mode
        self.embedded = embedded
        self.legacy = legacy
        self._lock = threading.Lock()
        #: ``primary_ok``, ``engine_error``, ``engine_error.<Type>``, ``fallback.<kind>``.
        self.counters: Counter[str] = Counter()

    # -- DecisionEngine ------------------------------------------------------
    def decide(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> ReplicationDecision:
        try:
            decision = _call_decide(self.primary, image, now, explain)
        except EngineError as exc:
            self._count_error(exc, 1)
            return self._fallback([image], exc, now)[0]
        self._count("primary_ok")
        return decision

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        if not images:
            return []
        try:
            decisions = _call_decide_many(self.primary, images, now)
        except EngineError as exc:
            self._count_error(exc, len(images))
            return self._fallback(list(images), exc, now)
        self._count("primary_ok", len(images))
        return decisions

    @property
    def revision(self) -> str:
        return self.primary.revision

    def close(self) -> None:
        self.primary.close()
        if self.embedded is not None:
            self.embedded.close()

    # -- fallback ------------------------------------------------------------
    def _fallback(
        self, images: list[ImageMetadata], error: EngineError, now: str | None
    ) -> list[ReplicationDecision]:
        what = f"{len(images)} image(s)" if len(images) != 1 else images[0].reference
        if self.mode == "embedded" and self.embedded is not None:
            try:
                decisions = _call_decide_many(self.embedded, images, now)
            except EngineError as second:
                _log.error(
                    "decision engine failed for %s (%s) and so did the embedded "
                    "engine (%s): failing closed",
                    what,
                    error.message,
                    second.message,
                )
                return self._closed(
                    images,
                    error,
                    f"the decision engine failed and the embedded "
                    f"fallback failed too ({second.message})",
                )
            _log.warning(
                "decision engine failed for %s (%s): decided by the embedded engine",
                what,
                error.message,
            )
            self._count("fallback.embedded", len(images))
            return [_annotate(d, self.mode, "embedded", error) for d in decisions]
        if self.mode == "fail-open":
            if self.legacy is None:
                _log.error(
                    "decision engine failed for %s (%s): failure_mode fail-open but no "
                    "legacy replication rules are configured: failing closed",
                    what,
                    error.message,
                )
                return self._closed(
                    images,
                    error,
                    "decision engine failed and failure_mode "
                    "fail-open has no legacy replication rules to fall back to",
                )
            try:
                decisions = [self.legacy.decide(image) for image in images]
            except Exception as second:  # the legacy evaluator is outside our error tree
                _log.error("legacy fallback failed for %s: %s: failing closed", what, second)
                return self._closed(
                    images,
                    error,
                    f"decision engine failed and the legacy fallback failed too ({second})",
                )
            _log.warning(
                "decision engine failed for %s (%s): decided by the legacy rules (fail-open)",
                what,
                error.message,
            )
            self._count("fallback.legacy", len(images))
            return [_annotate(d, self.mode, "legacy", error) for d in decisions]
        _log.warning("decision engine failed for %s (%s): failing closed", what, error.message)
        return self._closed(images, error, "decision engine failed (failure_mode fail-closed)")

    def _closed(
        self, images: list[ImageMetadata], error: EngineError, why: str
    ) -> list[ReplicationDecision]:
        self._count("fallback.fail-closed", len(images))
        return [fail_closed_decision(image, error, why, self.mode) for image in images]

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def _count_error(self, exc: EngineError, n: int) -> None:
        with self._lock:
            self.counters["engine_error"] += n
            self.counters[f"engine_error.{type(exc).__name__}"] += n


def _annotate(
    decision: ReplicationDecision, mode: FailureMode, fallback: str, error: EngineError
) -> ReplicationDecision:
    metadata: dict[str, Any] = {
        **decision.metadata,
        "failure_mode": mode,
        "fallback": fallback,
        "engine_error": error.message,
        "engine_error_type": type(error).__name__,
    }
    return decision.model_copy(update={"metadata": metadata})


def _call_decide(
    engine: Any, image: ImageMetadata, now: str | None, explain: bool = False
) -> ReplicationDecision:
    """``decide`` with ``now`` when the engine takes it (both of ours do), and
    ``explain`` only when asked (the legacy engine has no explanations)."""
    if explain:
        explained: ReplicationDecision = engine.decide(image, now=now, explain=True)
        return explained
    result: ReplicationDecision = (
        engine.decide(image, now=now) if now is not None else engine.decide(image)
    )
    return result


def _call_decide_many(
    engine: Any, images: Sequence[ImageMetadata], now: str | None
) -> list[ReplicationDecision]:
    result: list[ReplicationDecision] = (
        engine.decide_many(images, now=now) if now is not None else engine.decide_many(images)
    )
    return result
