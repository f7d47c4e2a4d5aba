"""``serve`` with the shared state (``state: {url: postgresql://...}``): many replicas.

* :class:`LeaderScheduler`: only the leader (:mod:`adapter.queue.leader`) fires
  sweeps, and each fire time is claimed in the database first (one sweep per
  fire time, whichever replica). A replica that becomes the leader resumes the
  sweeps whose planning its dead predecessor did not end (same sweep, same fire
  time), and runs the first fire time after the last recorded one when it is
  already past (a failover skips no fire time; several missed ones run once).
  A fire time that comes while the policy's previous sweep is unfinished (in
  queue mode: tasks still queued) is skipped, as in the embedded scheduler; when that
  sweep's planning ended nowhere, or its queued tasks made no progress for
  ``stale_after`` seconds (e.g. a broker that lost them), the sweep is planned again instead.
* :class:`SharedAuditLog`: the audit log's records also go to ``audit_records``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from adapter.queue.leader import Leadership
from adapter.service.audit import AuditLog
from adapter.service.scheduler import Scheduler
from adapter.state.postgres import AuditSink, PostgresState

__all__ = ["ClaimedSweep", "LeaderScheduler", "SharedAuditLog"]

log = logging.getLogger("freightliner.service.scheduler")
#: (sweep_id, policy_id, registries, stop) -> anything
ClaimedSweep = Callable[[int, str, list[str], threading.Event], Any]


class LeaderScheduler(Scheduler):
    """The scheduler of a replica sharing the state database with others."""

    def __init__(
        self,
        sweep: ClaimedSweep,
        state: PostgresState,
        configured: list[str],
        leadership: Leadership,
        *,
        mode: str,
        poll: float = 1.0,
        stale_after: float | None = None,
        tick: float = 0.2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(lambda *_: None, state, configured, tick=tick, clock=clock)  # type: ignore[arg-type]
        self._claimed = sweep
        self._shared = state
        self.leadership = leadership
        self.mode = mode
        self._poll = poll
        self.stale_after = stale_after
        self._checked = 0.0
        self.is_leader = False

    def _run(self) -> None:
        while not self.stopping.wait(self._tick):
            now = self._clock()
            if time.monotonic() - self._checked >= self._poll:
                self._checked = time.monotonic()
                was, self.is_leader = self.is_leader, self.leadership.check()
                if self.is_leader and not was:
                    self._take_over(now)
            with self._lock:
                for entry in self._entries.values():
                    if entry.next_run > now:
                        continue
                    due = entry.next_run
                    entry.next_run = entry.schedule.next_after(now)
                    if not self.is_leader:
                        continue
                    try:
                        self._fire(entry, due)
                    except Exception:  # the database is down: the next tick tries again
                        log.exception("firing %s at %s failed", entry.policy_id, due)

    def _fire(self, entry: Any, due: datetime) -> None:
        if not entry.running:
            # a sweep of this policy whose planning never ended (its planner died), or whose
            # queued tasks made no progress for ``stale_after`` s (a lost broker): plan it again
            # (queued rows are republished; the workers drop duplicates)
            stuck = [sid for sid, _ in self._shared.unplanned_sweeps(entry.policy_id)]
            open_id = self._shared.unfinished_sweep(entry.policy_id)
            if not stuck and open_id is not None and self.stale_after is not None:
                idle = self._shared.idle_seconds(open_id)
                if idle is not None and idle > self.stale_after:
                    stuck = [open_id]
            if stuck:
                log.warning(
                    "resuming an unfinished sweep",
                    extra={
                        "fields": {
                            "event": "sweep_resumed",
                            "policy_id": entry.policy_id,
                            "sweep_id": stuck[-1],
                        }
                    },
                )
                self._start(entry, stuck[-1])
            elif open_id is None:
                sweep_id = self._shared.claim_fire(entry.policy_id, due, self.mode)
                if sweep_id is not None:  # else another replica ran it
                    self._start(entry, sweep_id)
                return
        entry.skipped += 1
        log.warning(
            "previous sweep still running; fire time skipped",
            extra={"fields": {"policy_id": entry.policy_id, "fire_time": due.isoformat()}},
        )

    def _start(self, entry: Any, sweep_id: int) -> None:
        entry.thread = threading.Thread(
            target=self._claimed,
            args=(sweep_id, entry.policy_id, list(entry.registries), self.stopping),
            name=f"freightliner-sweep-{entry.policy_id}",
            daemon=True,
        )
        entry.thread.start()

    def _take_over(self, now: datetime) -> None:
        """Resume what a dead leader left, and catch up a fire time nobody ran."""
        with self._lock:
            for entry in self._entries.values():
                try:
                    unplanned = self._shared.unplanned_sweeps(entry.policy_id)
                    if unplanned and not entry.running:
                        sweep_id, fire_time = unplanned[-1]
                        log.warning(
                            "resuming a sweep the previous scheduler did not finish planning",
                            extra={
                                "fields": {
                                    "event": "sweep_resumed",
                                    "policy_id": entry.policy_id,
                                    "sweep_id": sweep_id,
                                    "fire_time": fire_time.isoformat(),
                                }
                            },
                        )
                        self._start(entry, sweep_id)
                    last = self._shared.last_fire_time(entry.policy_id)
                    if last is not None:
                        missed = entry.schedule.next_after(last)
                        if missed <= now:
                            entry.next_run = missed
                except Exception:
                    log.exception("taking over the schedule of %s failed", entry.policy_id)

    def stop(self, grace: float) -> bool:
        clean = super().stop(grace)
        self.leadership.release()
        return clean

    def view(self) -> list[dict[str, Any]]:
        rows = super().view()
        for row in rows:
            row["leader"] = self.is_leader
        return rows


class SharedAuditLog(AuditLog):
    """The audit log (a JSONL file when ``serve.audit_log`` is set) and ``audit_records``."""

    def __init__(self, path: str | None, sink: AuditSink) -> None:
        super().__init__(path)
        self.sink = sink

    def write(self, record: dict[str, Any]) -> None:
        super().write(record)
        self.sink.put(record)

    def close(self) -> None:
        super().close()
        self.sink.close()
