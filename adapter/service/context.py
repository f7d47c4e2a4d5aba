"""ServiceContext: the service's parts, wired from the config file; the API's operations."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.actions.executor import DecisionExecutor
from adapter.actions.interface import ActionResult
from adapter.actions.notify import WebhookNotifier
from adapter.config import FreightlinerConfig
from adapter.metadata.registry_source import RegistryMetadataSource
from adapter.registry.client import RegistryClient
from adapter.runner.interface import ImageOutcome, ImageReference
from adapter.runner.replicator import RegistryReplicator
from adapter.service.audit import AuditLog, JsonlWriter
from adapter.service.auth import TokenAuth, load_tokens
from adapter.service.bundles import BundleManager
from adapter.service.engine import AuditedEngine, Decider
from adapter.service.metrics import ServiceMetrics
from adapter.service.scheduler import Scheduler
from adapter.service.state import StateDB
from adapter.service.sweep import SweepResult, run_sweep
from adapter.state.interface import StateBackend
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.clock import now_rfc3339

if TYPE_CHECKING:  # queue mode and the shared state need the [scale] extra: imported when used
    from prometheus_client import CollectorRegistry

    from adapter.queue.planner import QueuePlanner
    from adapter.state.postgres import PostgresState

__all__ = ["MeteredExecutor", "ServiceContext"]

log = logging.getLogger("freightliner.service")


class MeteredExecutor:
    """An ActionExecutor that counts every action result and the bytes and time of replications."""

    def __init__(self, inner: DecisionExecutor, metrics: ServiceMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def execute(
        self, image: ImageMetadata, decision: ReplicationDecision, *, dry_run: bool = False
    ) -> list[ActionResult]:
        started = time.perf_counter()
        results = self.inner.execute(image, decision, dry_run=dry_run)
        copies = [r for r in results if r.action.type == "replicate"]
        for result in results:
            self.metrics.actions.inc(action=result.action.type, result=result.status)
            if result.status == "failed":
                self.metrics.errors.inc(type=f"action_{result.action.type}")
        if copies and not dry_run:
            source = self.metrics.registry_label(image.registry)
            for copy in copies:
                target = self.metrics.registry_label(copy.action.target_registry)
                self.metrics.copies.inc(
                    source_registry=source, target_registry=target, result=copy.status
                )
                self.metrics.replication_bytes.inc(
                    copy.bytes_copied, source_registry=source, target_registry=target
                )
            self.metrics.replication_duration.observe(time.perf_counter() - started)
        return results


def _outcome_view(outcome: ImageOutcome, decision_id: str) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "image": outcome.image.as_input(),
        **outcome.view(),
        "outcome": outcome.decision.outcome if outcome.decision else None,
    }


def _common_provenance(provenances: set[tuple[str, str]]) -> dict[str, str]:
    """The answer's top-level ``engine`` and ``bundle_revision``: those of every result when
    they agree (``""`` when there are no results), else ``"mixed"`` (each result has its own)."""
    if not provenances:
        return {"engine": "", "bundle_revision": ""}
    if len(provenances) == 1:
        engine, revision = next(iter(provenances))
        return {"engine": engine, "bundle_revision": revision}
    return {"engine": "mixed", "bundle_revision": "mixed"}


class ServiceContext:
    """Everything ``serve`` runs; :meth:`prepare` builds the first bundle (errors stop startup)."""

    def __init__(
        self,
        config: FreightlinerConfig,
        policy_sources: list[Path],
        *,
        config_path: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.settings = config.serve
        self.bundle_name = self.settings.bundle_name
        self.metrics = ServiceMetrics(self.settings.metrics, config.registries)
        self.auth = TokenAuth(load_tokens(self.settings, environ))
        self.shared_state: PostgresState | None = None
        if config.state is not None:
            from adapter.queue.tasks import worker_name
            from adapter.service.shared import SharedAuditLog
            from adapter.state.postgres import AuditSink, PostgresState

            self.shared_state = PostgresState(
                config.state.url,
                connect_timeout=config.state.connect_timeout_seconds,
                owner=worker_name(),
            )
            self.audit: AuditLog = SharedAuditLog(
                self.settings.audit_log, AuditSink(self.shared_state)
            )
        else:
            self.audit = AuditLog(self.settings.audit_log)
        self.change_log = JsonlWriter(self.settings.change_log)
        self.manager = BundleManager(
            policy_sources,
            self.metrics,
            self.change_log,
            interval=self.settings.watch_interval_seconds,
            signer=config.bundle_signing.signing(),
        )
        self.state: StateBackend = (
            self.shared_state if self.shared_state is not None else StateDB(self.settings.state_db)
        )
        self.pool = ThreadPoolExecutor(self.settings.threads, thread_name_prefix="freightliner-api")
        self.decider = Decider(config, self.manager, self.metrics, self.audit, config_path)
        concurrency = max(config.policy.maxConcurrency, 4)
        self.clients = {
            name: RegistryClient(config.registries.get(name), max_connections=concurrency)
            for name in config.registries
        }
        self.executor = DecisionExecutor(self.clients, notifier=WebhookNotifier(timeout=5.0))
        self.replicator = RegistryReplicator(
            AuditedEngine(self.decider),
            RegistryMetadataSource(self.clients, cache_size=config.policy.cacheSize),
            self.clients,
            MeteredExecutor(self.executor, self.metrics),
            max_concurrency=config.policy.maxConcurrency,
            batch_size=self.settings.sweep_batch_size,
        )
        self.planner: QueuePlanner | None = None
        self.queue_metrics: CollectorRegistry | None = None
        self.scheduler: Scheduler
        if self.shared_state is not None and config.state is not None:
            from adapter.queue.leader import Leadership
            from adapter.service.shared import LeaderScheduler

            if config.queue is not None:
                from adapter.queue.celery_app import CeleryPublisher, make_app
                from adapter.queue.metrics import register_queue_metrics
                from adapter.queue.planner import QueuePlanner

                self._queue_app = make_app(config.queue)
                self.planner = QueuePlanner(
                    self.replicator,
                    self.decider,
                    self.shared_state,
                    CeleryPublisher(self._queue_app, config.queue.queue_name),
                )
                # on the app's one registry: /metrics shows them with the rest
                self.queue_metrics = self.metrics.registry
                register_queue_metrics(
                    self.queue_metrics,
                    config.queue.broker,
                    config.queue.queue_name,
                    self.shared_state,
                )
            self.scheduler = LeaderScheduler(
                self._claimed_sweep,
                self.shared_state,
                list(self.clients),
                Leadership(config.state.url, config.state.connect_timeout_seconds, worker_name()),
                mode="queue" if self.planner is not None else "embedded",
                poll=config.state.leader_poll_seconds,
                stale_after=(
                    2 * config.queue.visibility_timeout_seconds
                    if config.queue is not None
                    else None
                ),
            )
        else:
            self.scheduler = Scheduler(self._sweep, self.state, list(self.clients))
        self.manager.on_validate(self.scheduler.validate)
        self.manager.on_publish(self.scheduler.refresh)
        self._started = False

    def prepare(self) -> None:
        self.manager.load_initial()

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.manager.start()
            self.scheduler.start()

    def stop(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        clean = self.scheduler.stop(grace)
        log.info("stopping", extra={"fields": {"event": "shutdown", "sweeps_finished": clean}})
        self.manager.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        if clean:
            self.close()

    def close(self) -> None:
        self.decider.close()
        self.executor.close()
        for client in self.clients.values():
            client.close()
        self.audit.close()
        self.change_log.close()
        self.state.close()
        if self.planner is not None:
            self._queue_app.close()

    def _sweep(
        self,
        policy_id: str,
        registries: list[str],
        stop: threading.Event,
        sweep_id: int | None = None,
    ) -> SweepResult:
        return run_sweep(
            policy_id,
            registries,
            self.replicator,
            self.decider,
            self.state,
            self.metrics,
            stop,
            max_concurrency=max(self.config.policy.maxConcurrency, 1),
            sweep_id=sweep_id,
        )

    def _claimed_sweep(
        self, sweep_id: int, policy_id: str, registries: list[str], stop: threading.Event
    ) -> object:
        """A fire time the leader claimed: planned into tasks (queue mode) or run here."""
        if self.planner is None:
            return self._sweep(policy_id, registries, stop, sweep_id)
        planned = self.planner.sweep(sweep_id, policy_id, registries, stop)
        self.metrics.sweeps.inc(policy_id=policy_id, result=f"planned_{planned.result}")
        log.info(
            "sweep planned",
            extra={
                "fields": {
                    "event": "sweep_planned",
                    "policy_id": policy_id,
                    "sweep_id": sweep_id,
                    "result": planned.result,
                    "images": planned.images,
                    "enqueued": planned.enqueued,
                    "already": planned.already,
                }
            },
        )
        return planned

    # -- API operations (worker threads) ----------------------------------------
    def readiness(self) -> tuple[bool, dict[str, Any]]:
        published = self.manager.current
        error = self.manager.last_error
        checks: dict[str, Any] = {
            "bundle": {
                "ok": True,
                "revision": published.revision,
                "published_at": published.published_at,
                "policies": len(published.policy_set.policies),
                "last_rejected_change": dataclasses.asdict(error) if error else None,
            }
        }
        if self.decider.opa is not None:
            up = self.decider.opa.ready()
            revision = self.decider.opa.revision if up else ""
            checks["opa"] = {
                "ok": up,
                "url": self.decider.opa.url,
                "revision": revision,
                "in_sync": revision == published.revision,
            }
            if not up:
                checks["opa"]["message"] = (
                    f"OPA at {self.decider.opa.url} is unreachable or has no bundle active"
                )
        return all(c["ok"] for c in checks.values()), checks

    def policies_view(self) -> dict[str, Any]:
        published = self.manager.current
        error = self.manager.last_error
        return {
            "bundle": {
                "name": self.bundle_name,
                "revision": published.revision,
                "published_at": published.published_at,
                "tests_passed": published.tests_passed,
            },
            "policies": published.policies(),
            "last_rejected_change": dataclasses.asdict(error) if error else None,
            "schedules": self.scheduler.view(),
        }

    def evaluate_image(
        self, image: ImageMetadata, now: str | None, *, explain: bool = False
    ) -> dict[str, Any]:
        """Decide one image; ``explain`` asks for every candidate's condition lines."""
        self.decider.begin("evaluate")
        decided = self.decider.decide_many([image], now, explain=explain)[0]
        return {
            "engine": decided.engine,
            "bundle_revision": decided.revision,
            "results": [
                {
                    "decision_id": decided.decision_id,
                    "engine": decided.engine,
                    "bundle_revision": decided.revision,
                    "image": image.as_input(),
                    "decision": decided.decision.model_dump(mode="json"),
                }
            ],
        }

    def evaluate_reference(self, reference: ImageReference) -> dict[str, Any]:
        capture = self.decider.begin("evaluate")
        pairs = self.replicator.evaluate(reference)
        results = []
        provenances: set[tuple[str, str]] = set()
        for image, decision in pairs:
            decided = capture.decided.get((image.reference, image.digest))
            engine, revision = (decided.engine, decided.revision) if decided else ("", "")
            provenances.add((engine, revision))
            results.append(
                {
                    "decision_id": decided.decision_id if decided else "",
                    "engine": engine,
                    "bundle_revision": revision,
                    "image": image.as_input(),
                    "decision": decision.model_dump(mode="json"),
                }
            )
        return {**_common_provenance(provenances), "results": results}

    def replicate(self, reference: ImageReference, dry_run: bool) -> dict[str, Any]:
        if self.planner is not None and not dry_run:
            return self._enqueue(reference)
        capture = self.decider.begin("replicate")
        summary = self.replicator.replicate(reference, dry_run=dry_run)
        outcomes = []
        for outcome in summary.outcomes:
            decided = capture.decided.get((outcome.image.reference, outcome.image.digest))
            view = _outcome_view(outcome, decided.decision_id if decided else "")
            view["engine"] = decided.engine if decided else ""
            view["bundle_revision"] = decided.revision if decided else ""
            self.audit.write(
                {
                    "kind": "execution",
                    "time": self.audit_time(),
                    "source": "replicate",
                    "dry_run": dry_run,
                    **view,
                }
            )
            outcomes.append(view)
        counts = {
            s: summary.count(s)
            for s in ("replicated", "skipped", "blocked", "not_replicated", "failed", "planned")
        }
        return {
            "reference": str(reference),
            "dry_run": dry_run,
            "summary": counts,
            "exit_code": summary.exit_code,
            "outcomes": outcomes,
        }

    def _enqueue(self, reference: ImageReference) -> dict[str, Any]:
        """Queue mode: plan and enqueue; the copies happen on the workers."""
        assert self.planner is not None
        planned = self.planner.replicate(reference)
        return {
            "reference": str(reference),
            "dry_run": False,
            "queued": True,
            "sweep_id": planned.sweep_id,
            "summary": {
                "images": planned.images,
                "enqueued": planned.enqueued,
                "already": planned.already,
                "failed": planned.undecided,
            },
            "tasks": [
                {"target": t.target, "source_digest": t.source_digest, "task": t.key}
                for t in planned.tasks
            ],
        }

    @staticmethod
    def audit_time() -> str:
        return now_rfc3339()
