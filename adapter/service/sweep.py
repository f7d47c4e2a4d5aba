"""One scheduled sweep: a policy's source registries, planned and executed through the Replicator.

Steps (per source registry): the Replicator plans every tag (catalog and tags
paginated, metadata, decisions in batches, sweep limits); for each tag whose
decision keeps a ``replicate`` action of the policy, targets already recorded in
the state database for the same source digest are dropped (no copy, no
registry request); the rest is executed by the Replicator's executor, at most
``max_concurrency`` tags at a time, and every target copied (or found already
there) is recorded.

Stopping (SIGTERM): no new tag is started; copies in flight finish (the
caller bounds the wait); a copy cut short leaves no tag, since the copier
writes the tag last.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from adapter.actions.executor import target_of
from adapter.registry.health import RegistryHealth, run_with_health
from adapter.runner.interface import ImageReference
from adapter.runner.replicator import RegistryReplicator
from adapter.runner.selection import TagPlan
from adapter.service.engine import Decided, Decider
from adapter.service.metrics import ServiceMetrics
from adapter.state.interface import StateBackend
from migrate.core.errors import FreightlinerError

__all__ = ["SweepResult", "run_sweep"]

log = logging.getLogger("freightliner.service.sweep")


@dataclass
class SweepResult:
    policy_id: str
    result: str = "ok"  # ok | failed | abandoned
    images: int = 0
    copied: int = 0
    already: int = 0
    failed: int = 0
    error: str = ""


def _execute(
    plan: TagPlan,
    policy_id: str,
    replicator: RegistryReplicator,
    state: StateBackend,
    decisions: Mapping[tuple[str, str], Decided],
    result: SweepResult,
    lock: threading.Lock,
) -> None:
    decision = plan.decision
    if decision is None:  # the caller counts undecided plans as failed before submitting
        return
    wanted = [a for a in decision.replications() if policy_id in a.policy_ids]
    if not wanted:
        return
    image = plan.image
    source_digest = image.index_digest or image.digest
    decided = decisions.get((image.reference, image.digest))
    revision = decided.revision if decided else ""
    todo = [a for a in wanted if state.replicated(source_digest, target_of(image, a)) is None]
    with lock:
        result.already += len(wanted) - len(todo)
    if not todo:
        return
    notify = [a for a in decision.notifications() if policy_id in a.policy_ids]
    results = replicator.executor.execute(
        image, decision.model_copy(update={"actions": [*todo, *notify]})
    )
    for outcome in results:
        if outcome.action.type != "replicate":
            continue
        if outcome.status in {"replicated", "skipped"}:
            state.record(
                source_digest,
                outcome.target,
                # what the target holds: a skip_existing target may hold another digest
                outcome.target_digest or source_digest,
                source=plan.reference,
                policy_id=policy_id,
                bundle_revision=revision,
            )
        with lock:
            result.copied += outcome.status == "replicated"
            result.already += outcome.status == "skipped"
            result.failed += outcome.status == "failed"


def run_sweep(
    policy_id: str,
    registries: list[str],
    replicator: RegistryReplicator,
    decider: Decider,
    state: StateBackend,
    metrics: ServiceMetrics,
    stop: threading.Event,
    max_concurrency: int = 4,
    sweep_id: int | None = None,
) -> SweepResult:
    """Sweep ``registries`` for ``policy_id``; never raises (errors are in the result).
    ``sweep_id``: a sweep the scheduler already recorded (a claimed fire time)."""
    result = SweepResult(policy_id)
    if sweep_id is None:
        sweep_id = state.start_sweep(policy_id)
    started = time.monotonic()
    lock = threading.Lock()
    clients = getattr(replicator, "clients", {})
    # a registry that is down (connection refused, credentials rejected) is given up for the
    # rest of the sweep after its first clear error: no retry schedule per tag
    health = RegistryHealth({n: str(getattr(c, "base_url", "?")) for n, c in clients.items()})
    try:
        capture = decider.begin("sweep")
        for registry in registries:
            if stop.is_set():
                break
            plans = run_with_health(health, replicator.plan, ImageReference(registry))
            with ThreadPoolExecutor(
                max_workers=max_concurrency, thread_name_prefix="freightliner-sweep"
            ) as pool:
                futures: list[Future[None]] = []
                for plan in plans:
                    if stop.is_set():
                        break
                    if plan.decision is None:
                        result.failed += 1
                        continue
                    result.images += 1
                    futures.append(
                        pool.submit(
                            run_with_health,
                            health,
                            _execute,
                            plan,
                            policy_id,
                            replicator,
                            state,
                            capture.decided,
                            result,
                            lock,
                        )
                    )
                for future in futures:
                    if stop.is_set() and not future.running() and future.cancel():
                        continue
                    try:
                        future.result()
                    except FreightlinerError as exc:
                        with lock:
                            result.failed += 1
                        log.warning("sweep %s: %s", policy_id, exc.message)
        if stop.is_set():
            result.result = "abandoned"
        elif result.failed:
            result.result = "failed"
        if health.down:
            result.error = "; ".join(d.message for _, d in sorted(health.down.items()))
    except Exception as exc:  # any failure of one sweep is its result; interrupts propagate
        log.exception("sweep %s failed", policy_id)
        result.result, result.error = "failed", str(exc)
    state.finish_sweep(
        sweep_id, result.result, result.images, result.copied, result.already, result.failed
    )
    metrics.sweeps.inc(policy_id=policy_id, result=result.result)
    log.info(
        "sweep finished",
        extra={
            "fields": {
                "event": "sweep_finished",
                "policy_id": policy_id,
                "result": result.result,
                "images": result.images,
                "copied": result.copied,
                "already": result.already,
                "failed": result.failed,
                "seconds": round(time.monotonic() - started, 3),
            }
        },
    )
    return result
