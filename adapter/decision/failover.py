"""FailoverEngine: what the adapter decides when its decision engine cannot.

Wraps a primary :class:`DecisionEngine` (usually :class:`OpaHttpEngine`).
When the primary raises - :class:`EngineUnavailable` (OPA down, timeout,
5xx, undecodable answer, circuit open), :class:`UndefinedDecision` (bundle
without the decision rule), any other evaluation error, or any exception at
all that escaped it (read as unavailable) - the configured
``opa.failure_mode`` applies:

``fail-closed`` (default)
    a *blocking* decision: ``should_replicate: false``, one ``block`` action,
    ``metadata.outcome = "block"``, ``metadata.engine_error`` = the error,
    and a reason that says the engine failed.
``fail-open``
    graceful degradation (docs/adapter.md): the legacy replication rules
    (``replication.rules`` of the config) decide, via
    :class:`adapter.decision.legacy.LegacyRulesEngine`.
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
from typing import Any

from adapter.config import FailureMode
from adapter.decision.interface import DecisionEngine, TracedDecisions
from adapter.decision.legacy import LegacyRulesEngine
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.contract.provenance import EngineName, Provenance, Traced, traced_many
from migrate.core.errors import ConfigError, EngineError, EngineUnavailable
from migrate.engine.embedded import EmbeddedEngine

__all__ = ["FailoverEngine", "fail_closed_decision"]

_log = logging.getLogger("freightliner.decision.failover")


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


class FailoverEngine(TracedDecisions):
    """A DecisionEngine that never raises EngineError: it applies ``mode`` instead."""

    def __init__(
        self,
        primary: DecisionEngine,
        mode: FailureMode = "fail-closed",
        *,
        embedded: DecisionEngine | None = None,
        legacy: LegacyRulesEngine | None = None,
    ) -> None:
        if mode == "embedded" and embedded is None:
            raise ConfigError("failure_mode embedded needs a bundle for the embedded engine")
        self.primary = primary
        self.mode: FailureMode = mode
        self.embedded = embedded
        self.legacy = legacy
        #: The provenance name of the primary's decisions (an EmbeddedEngine reports its own).
        self.primary_name: EngineName = "embedded" if isinstance(primary, EmbeddedEngine) else "opa"
        self._lock = threading.Lock()
        #: ``primary_ok``, ``engine_error``, ``engine_error.<Type>``, ``fallback.<kind>``.
        self.counters: Counter[str] = Counter()

    # -- DecisionEngine (decide, decide_many: TracedDecisions) ---------------
    def decide_traced(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> Traced:
        return self._decide([image], now, single=True, explain=explain)[0]

    def decide_many_traced(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[Traced]:
        """Decisions with the engine that made each; never raises for an engine's failure.

        Anything the primary raises - the error tree, or an exception from a library
        below it - applies ``mode``; so fail-closed is guaranteed.
        """
        return self._decide(images, now, single=False)

    def _decide(
        self,
        images: Sequence[ImageMetadata],
        now: str | None,
        *,
        single: bool,
        explain: bool = False,
    ) -> list[Traced]:
        if not images:
            return []
        try:
            traced = (
                [_call_traced(self.primary, images[0], now, self.primary_name, explain)]
                if single
                else traced_many(self.primary, images, now, self.primary_name)
            )
        except Exception as exc:
            error = _as_engine_error(exc)
            self._count_error(error, len(images))
            return self._fallback(list(images), error, now)
        self._count("primary_ok", len(images))
        return traced

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
    ) -> list[Traced]:
        what = f"{len(images)} image(s)" if len(images) != 1 else images[0].reference
        if self.mode == "embedded" and self.embedded is not None:
            try:
                traced = traced_many(self.embedded, images, now, "embedded")
            except Exception as second_raw:
                second = _as_engine_error(second_raw)
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
            return [(_annotate(d, self.mode, "embedded", error), p) for d, p in traced]
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
            legacy = Provenance("legacy", "")
            return [(_annotate(d, self.mode, "legacy", error), legacy) for d in decisions]
        _log.warning("decision engine failed for %s (%s): failing closed", what, error.message)
        return self._closed(images, error, "decision engine failed (failure_mode fail-closed)")

    def _closed(self, images: list[ImageMetadata], error: EngineError, why: str) -> list[Traced]:
        self._count("fallback.fail-closed", len(images))
        closed = Provenance("fail-closed", "")
        return [(fail_closed_decision(image, error, why, self.mode), closed) for image in images]

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


def _call_traced(
    engine: Any, image: ImageMetadata, now: str | None, name: EngineName, explain: bool = False
) -> Traced:
    """``decide_traced`` when the engine has it, else ``decide`` with ``name`` and its revision;
    ``explain`` only when asked (the legacy engine has no explanations)."""
    method = getattr(engine, "decide_traced", None)
    if method is not None:
        result: Traced = method(image, now, explain=True) if explain else method(image, now)
        return result
    if explain:
        explained: ReplicationDecision = engine.decide(image, now=now, explain=True)
        return explained, Provenance(name, str(getattr(engine, "revision", "") or ""))
    decision: ReplicationDecision = (
        engine.decide(image, now=now) if now is not None else engine.decide(image)
    )
    return decision, Provenance(name, str(getattr(engine, "revision", "") or ""))


def _as_engine_error(exc: Exception) -> EngineError:
    """The error tree's own errors as they are; anything else (a library's exception that
    escaped an engine) as :class:`EngineUnavailable` naming its type."""
    if isinstance(exc, EngineError):
        return exc
    return EngineUnavailable(f"the decision engine failed: {type(exc).__name__}: {exc}")
