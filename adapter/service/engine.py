"""The service's decision engine: OPA (with the configured failure mode) or the embedded engine,
wrapped so that every decision is timed, counted and written to the audit log.

* ``opa.url`` set: :class:`OpaHttpEngine` behind :class:`FailoverEngine`
  (``opa.failure_mode``; ``embedded`` falls back to the *current* published bundle).
* otherwise: the current published bundle's :class:`EmbeddedEngine`.

:class:`AuditedEngine` is the :class:`DecisionEngine` handed to the Replicator:
the same wrapper, with the audit ``source`` and decision ids captured per thread
so execution outcomes can be linked to their decisions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapter.config import FreightlinerConfig
from adapter.decision.embedded import EmbeddedEngine, now_rfc3339
from adapter.decision.failover import FailoverEngine
from adapter.decision.legacy import load_legacy_rules
from adapter.decision.model import ReplicationDecision
from adapter.decision.opa_http import OpaHttpEngine
from adapter.errors import EngineError, EngineUnavailable, UndefinedDecision
from adapter.metadata.model import ImageMetadata
from adapter.service.audit import AuditLog, new_decision_id
from adapter.service.bundles import BundleManager
from adapter.service.metrics import ServiceMetrics
from migrate.policy.values import parse_duration_ns

__all__ = ["AuditedEngine", "CurrentBundleEngine", "Decided", "Decider", "error_type"]


class CurrentBundleEngine:
    """A DecisionEngine over whatever bundle the manager has published last.

    Each published bundle carries the :class:`EmbeddedEngine` compiled when it
    was published (it keeps one regorus engine per thread itself).
    """

    def __init__(self, manager: BundleManager) -> None:
        self._manager = manager

    def _engine(self) -> EmbeddedEngine:
        return self._manager.current.engine

    def decide(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> ReplicationDecision:
        return self._engine().decide(image, now, explain=explain)

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        return self._engine().decide_many(images, now)

    @property
    def revision(self) -> str:
        return self._manager.current.revision

    def close(self) -> None:
        """The published bundles own their engines."""


def error_type(exc: BaseException) -> str:
    """The ``type`` label of ``freightliner_policy_errors_total`` for an engine error."""
    if isinstance(exc, EngineUnavailable):
        return "engine_unavailable"
    if isinstance(exc, UndefinedDecision):
        return "undefined_decision"
    return "engine_error"


@dataclass(frozen=True)
class Decided:
    decision_id: str
    image: ImageMetadata
    decision: ReplicationDecision


@dataclass
class _Capture:
    source: str = "evaluate"
    decided: dict[tuple[str, str], Decided] = field(default_factory=dict)


class Decider:
    """Decisions with metrics and audit records; thread-safe."""

    def __init__(
        self,
        config: FreightlinerConfig,
        manager: BundleManager,
        metrics: ServiceMetrics,
        audit: AuditLog,
        config_path: Path | None = None,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.audit = audit
        self.embedded = CurrentBundleEngine(manager)
        self.opa: OpaHttpEngine | None = None
        self.engine: FailoverEngine | CurrentBundleEngine = self.embedded
        if config.opa.url:
            self.opa = OpaHttpEngine(
                config.opa.url,
                timeout=config.evaluation_timeout_seconds,
                retries=config.opa.retries,
                backoff=parse_duration_ns(config.opa.backoff) / 1e9,
                circuit_failures=config.opa.circuit_failures,
                circuit_reset=parse_duration_ns(config.opa.circuit_reset) / 1e9,
                max_connections=64,
            )
            legacy = (
                load_legacy_rules(config_path) if config.opa.failure_mode == "fail-open" else None
            )
            self.engine = FailoverEngine(
                self.opa, config.opa.failure_mode, embedded=self.embedded, legacy=legacy
            )
        self._opa_revision = ("", 0.0)
        self._local = threading.local()

    @property
    def revision(self) -> str:
        """The revision decisions come from: OPA's active bundle (cached 1 s), else ours."""
        if self.opa is None:
            return self.manager.current.revision
        value, at = self._opa_revision
        if time.monotonic() - at > 1.0:
            value = self.opa.revision
            self._opa_revision = (value, time.monotonic())
        return value

    def capture(self) -> _Capture:
        capture = getattr(self._local, "capture", None)
        if capture is None:
            capture = self._local.capture = _Capture()
        return capture

    def begin(self, source: str) -> _Capture:
        """Start capturing the decisions of this thread (audit ``source``)."""
        capture = self._local.capture = _Capture(source)
        return capture

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None, *, explain: bool = False
    ) -> list[Decided]:
        """Decide and audit; ``explain`` (one image) asks for full explanations."""
        if not images:
            return []
        when = now or now_rfc3339()
        capture = self.capture()
        started = time.perf_counter()
        try:
            if len(images) > 1:
                decisions = self.engine.decide_many(images, now=when)
            elif explain:
                decisions = [self.engine.decide(images[0], now=when, explain=True)]
            else:
                decisions = [self.engine.decide(images[0], now=when)]
        except EngineError as exc:
            self.metrics.evaluation_duration.observe(time.perf_counter() - started)
            self.metrics.evaluations.inc(len(images), policy_id="", result="error")
            self.metrics.errors.inc(type=error_type(exc))
            for image in images:
                self.audit.decision(
                    decision_id=new_decision_id(),
                    source=capture.source,
                    engine_input={"image": image.as_input(), "now": when},
                    decision=None,
                    bundle_revision=self.revision,
                    error=exc.message,
                )
            raise
        self.metrics.evaluation_duration.observe(time.perf_counter() - started)
        revision = self.revision
        results: list[Decided] = []
        for image, decision in zip(images, decisions, strict=True):
            self._count(decision)
            decided = Decided(new_decision_id(), image, decision)
            capture.decided[(image.reference, image.digest)] = decided
            self.audit.decision(
                decision_id=decided.decision_id,
                source=capture.source,
                engine_input={"image": image.as_input(), "now": when},
                decision=decision.model_dump(mode="json"),
                bundle_revision=revision,
            )
            results.append(decided)
        return results

    def _count(self, decision: ReplicationDecision) -> None:
        m = self.metrics
        m.decisions.inc(outcome=decision.outcome)
        for entry in decision.explanation:
            m.evaluations.inc(
                policy_id=entry.policy_id, result="matched" if entry.matched else "not_matched"
            )
        for policy_id in decision.matched_policies:
            m.matches.inc(policy_id=policy_id)
        kind = decision.metadata.get("engine_error_type")
        if kind:
            m.errors.inc(
                type={
                    "EngineUnavailable": "engine_unavailable",
                    "UndefinedDecision": "undefined_decision",
                }.get(str(kind), "engine_error")
            )

    def close(self) -> None:
        if self.opa is not None:
            self.opa.close()


class AuditedEngine:
    """The :class:`DecisionEngine` the Replicator uses: every decision goes through the Decider."""

    def __init__(self, decider: Decider) -> None:
        self._decider = decider

    def decide(self, image: ImageMetadata, now: str | None = None) -> ReplicationDecision:
        return self._decider.decide_many([image], now)[0].decision

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        return [d.decision for d in self._decider.decide_many(images, now)]

    @property
    def revision(self) -> str:
        return self._decider.revision

    def close(self) -> None:
        """The decider owns the engines."""
