"""Planning in queue mode: list, read, decide (OPA or the embedded engine), then enqueue.

A sweep plans its source registries one repository at a time (sweep limits are
per repository, so this is the embedded sweep's plan): for each tag whose
decision keeps a replicate action of the policy, one task per target. A target
the shared state records for the same source digest becomes an ``already`` row
(no task); the rest are recorded as ``queued`` rows of the sweep first, then
published. A planner that takes over a sweep its dead predecessor began (same
fire time) plans again: rows already there are kept, and every row still
``queued`` is published again (a duplicate delivery is dropped by the worker). A planner stopped by
SIGTERM leaves its sweep unplanned for the next leader to resume the same way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from adapter.queue.interface import CopyTask, DecisionCapture, Decisions, TaskPublisher
from adapter.registry.lookup import registry_named
from adapter.runner.interface import ImageReference
from adapter.runner.replicator import RegistryReplicator
from adapter.runner.selection import TagPlan
from adapter.state.postgres import PostgresState
from migrate.core.errors import FreightlinerError

__all__ = ["PlanResult", "QueuePlanner"]

log = logging.getLogger("freightliner.queue.planner")


@dataclass
class PlanResult:
    sweep_id: int
    result: str = "ok"  # ok | failed | abandoned (planning)
    images: int = 0
    enqueued: int = 0
    already: int = 0
    undecided: int = 0
    error: str = ""
    tasks: list[CopyTask] = field(default_factory=list)


class QueuePlanner:
    """Plans sweeps and replicate requests into copy tasks; thread-safe."""

    def __init__(
        self,
        replicator: RegistryReplicator,
        decisions: Decisions,
        state: PostgresState,
        publisher: TaskPublisher,
    ) -> None:
        self.replicator = replicator
        self.decisions = decisions
        self.state = state
        self.publisher = publisher

    def sweep(
        self, sweep_id: int, policy_id: str, registries: list[str], stop: threading.Event
    ) -> PlanResult:
        """Plan and enqueue a policy's sweep (never raises: errors end it ``failed``)."""
        result = PlanResult(sweep_id)
        try:
            for registry in registries:
                client = registry_named(self.replicator.clients, registry)
                for repository in client.catalog(self.replicator.page_size):
                    if stop.is_set():
                        break
                    capture = self.decisions.begin("sweep")
                    plans = self.replicator.plan(ImageReference(registry, repository))
                    self._enqueue(plans, capture, sweep_id, policy_id, result)
            if stop.is_set():
                # left unplanned: the next leader (or this replica, restarted) plans it again
                result.result = "abandoned"
                return result
        except FreightlinerError as exc:
            result.result, result.error = "failed", exc.message
            log.error("planning sweep %d of %s failed: %s", sweep_id, policy_id, exc.message)
        except Exception as exc:  # one sweep's failure is its result
            log.exception("planning sweep %d of %s failed", sweep_id, policy_id)
            result.result, result.error = "failed", str(exc)
        self.state.mark_planned(
            sweep_id, result.images, "" if result.result == "ok" else result.result
        )
        return result

    def replicate(self, reference: ImageReference, policy_id: str = "") -> PlanResult:
        """``POST /v1/replicate`` in queue mode: every replicate action of every tag the
        reference names (any policy) becomes a task of a new sweep without a fire time."""
        sweep_id = self.state.start_sweep(policy_id, mode="queue")
        result = PlanResult(sweep_id)
        try:
            capture = self.decisions.begin("replicate")
            plans = self.replicator.plan(reference)
            self._enqueue(plans, capture, sweep_id, None, result)
        finally:
            self.state.mark_planned(sweep_id, result.images)
        return result

    def _enqueue(
        self,
        plans: list[TagPlan],
        capture: DecisionCapture,
        sweep_id: int,
        policy_id: str | None,
        result: PlanResult,
    ) -> None:
        tasks: list[CopyTask] = []
        already: list[tuple[str, str, str]] = []
        for plan in plans:
            decision = plan.decision
            if decision is None:
                result.undecided += 1
                continue
            result.images += 1
            wanted = [
                a for a in decision.replications() if policy_id is None or policy_id in a.policy_ids
            ]
            notify = [
                a
                for a in decision.notifications()
                if policy_id is None or policy_id in a.policy_ids
            ]
            decided = capture.decided.get((plan.image.reference, plan.image.digest))
            for index, action in enumerate(wanted):
                task = CopyTask(
                    sweep_id=sweep_id,
                    policy_id=policy_id or ",".join(action.policy_ids),
                    bundle_revision=getattr(decided, "revision", ""),
                    decision_id=getattr(decided, "decision_id", ""),
                    image=plan.image,
                    decision=decision.model_copy(
                        update={"actions": [action, *(notify if index == 0 else [])]}
                    ),
                )
                if self.state.replicated(task.source_digest, task.target) is not None:
                    already.append((task.key, task.source_digest, task.target))
                else:
                    tasks.append(task)
        if already:
            self.state.add_tasks(sweep_id, already, status="already")
            result.already += len(already)
        queued = self.state.add_tasks(sweep_id, [(t.key, t.source_digest, t.target) for t in tasks])
        for task in tasks:
            if task.key in queued:
                self.publisher.publish(task)
                result.enqueued += 1
                result.tasks.append(task)
