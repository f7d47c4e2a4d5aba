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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from adapter.config import FreightlinerConfig
from adapter.decision.failover import FailoverEngine
from adapter.decision.opa_http import OpaHttpEngine
from adapter.runner.factory import build_engine, opa_engine
from adapter.service.audit import AuditLog, new_decision_id
from adapter.service.bundles import BundleManager
from adapter.service.metrics import ServiceMetrics
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.contract.provenance import Provenance, Traced
from migrate.core.clock import now_rfc3339
from migrate.core.errors import EngineError, EngineUnavailable, UndefinedDecision
from migrate.engine.embedded import EmbeddedEngine

__all__ = ["AuditedEngine", "CurrentBundleEngine", "Decided", "Decider", "error_type"]

T = TypeVar("T")


class CurrentBundleEngine:
    """A DecisionEngine over whatever bundle the manager has published last, evaluated on a
    small pool of engine threads.

    regorus engines live in the thread that compiled them (one per thread, the current
    revision's; see :mod:`migrate.engine.embedded`). Evaluating on every API worker
    thread would keep up to ``serve.threads`` compiled engines (about 6 MiB each with
    the example policies), and a worker that fell back to the embedded engine once keeps
    its engine until it decides again. So every embedded evaluation runs on
    ``workers`` dedicated threads: at most ``workers`` engines exist, whatever the load,
    the number of API threads or the number of reloads.
    """

    def __init__(self, manager: BundleManager, workers: int = 2) -> None:
        self._manager = manager
        self._pool = ThreadPoolExecutor(max(workers, 1), thread_name_prefix="freightliner-engine")

    def _engine(self) -> EmbeddedEngine:
        return self._manager.current.engine

    def _run(self, call: Callable[[EmbeddedEngine], T]) -> T:
        engine = self._engine()  # one bundle per call: the revision reported is the one used
        return self._pool.submit(call, engine).result()

    def decide(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> ReplicationDecision:
        return self._run(lambda e: e.decide(image, now, explain=explain))

    def decide_many(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[ReplicationDecision]:
        return self._run(lambda e: e.decide_many(images, now))

    def decide_traced(
        self, image: ImageMetadata, now: str | None = None, *, explain: bool = False
    ) -> Traced:
        return self._run(lambda e: e.decide_traced(image, now, explain=explain))

    def decide_many_traced(
        self, images: Sequence[ImageMetadata], now: str | None = None
    ) -> list[Traced]:
        return self._run(lambda e: e.decide_many_traced(images, now))

    @property
    def revision(self) -> str:
        return self._manager.current.revision

    def close(self) -> None:
        """Stop the engine threads (their engines are dropped on them as they end)."""
        self._pool.shutdown(wait=True)


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
    provenance: Provenance

    @property
    def engine(self) -> str:
        return self.provenance.engine

    @property
    def revision(self) -> str:
        return self.provenance.revision


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
        workers = config.serve.engine_threads or (2 if config.opa.url else 8)
        self.embedded = CurrentBundleEngine(manager, workers)
        self.opa: OpaHttpEngine | None = None
        # Without OPA the current bundle decides unwrapped: an engine error is an
        # API error (counted and audited below), not a fail-closed block.
        self.engine: FailoverEngine | CurrentBundleEngine = self.embedded
        if config.opa.url:
            # one connection per API worker thread: a decision never queues for one
            self.opa = opa_engine(config, config.opa.url, pool=config.serve.threads)
            self.engine = build_engine(
                config, opa=self.opa, embedded=lambda: self.embedded, config_path=config_path
            )
        self._local = threading.local()

    @property
    def revision(self) -> str:
        """The revision of the bundle published here (what OPA is told to load). Each decision
        reports the revision of the engine that made it (:attr:`Decided.provenance`)."""
        return self.manager.current.revision

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
            traced = (
                self.engine.decide_many_traced(images, now=when)
                if len(images) > 1
                else [self.engine.decide_traced(images[0], now=when, explain=explain)]
            )
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
                    bundle_revision=self.manager.current.revision,
                    engine="embedded",
                    error=exc.message,
                )
            raise
        self.metrics.evaluation_duration.observe(time.perf_counter() - started)
        results: list[Decided] = []
        for image, (decision, provenance) in zip(images, traced, strict=True):
            self._count(decision, provenance)
            decided = Decided(new_decision_id(), image, decision, provenance)
            capture.decided[(image.reference, image.digest)] = decided
            self.audit.decision(
                decision_id=decided.decision_id,
                source=capture.source,
                engine_input={"image": image.as_input(), "now": when},
                decision=decision.model_dump(mode="json"),
                bundle_revision=provenance.revision,
                engine=provenance.engine,
            )
            results.append(decided)
        return results

    def _count(self, decision: ReplicationDecision, provenance: Provenance) -> None:
        m = self.metrics
        m.decisions.inc(
            outcome=decision.outcome, engine=provenance.engine, bundle_revision=provenance.revision
        )
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
        self.embedded.close()


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
