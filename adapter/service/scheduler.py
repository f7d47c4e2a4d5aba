"""Scheduled policies: a policy with a ``schedule`` sweeps its source registries when it fires.

Source registries: the values of the policy's top-level ``registry`` condition
with operator ``equals`` (or ``in``) when its conditions are a plain AND list,
else every configured registry. At most one sweep per policy runs at a time: a
fire time that comes while the previous sweep still runs is skipped (and
logged). Schedules are re-read from every newly published bundle.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapter.service.bundles import PublishedBundle
from adapter.service.sweep import SweepResult
from adapter.state.interface import StateBackend
from migrate.core.cron import CronSchedule
from migrate.core.errors import PolicyError
from migrate.policy.model import Policy

__all__ = ["ScheduleError", "Scheduler", "source_registries"]

log = logging.getLogger("freightliner.service.scheduler")
SweepFunc = Callable[[str, list[str], threading.Event], SweepResult]


def source_registries(policy: Policy, configured: list[str]) -> list[str]:
    """The registries a scheduled policy sweeps (see the module docstring)."""
    if any(c.logical_op and c.logical_op.upper() == "OR" for c in policy.conditions):
        return list(configured)
    named: list[str] = []
    for condition in policy.conditions:
        if condition.type != "registry" or condition.is_group:
            continue
        if condition.operator == "equals" and isinstance(condition.value, str):
            named.append(condition.value)
        elif condition.operator == "in" and isinstance(condition.value, list):
            named.extend(str(v) for v in condition.value)
    if not named:
        return list(configured)
    return [r for r in dict.fromkeys(named) if r in configured]


class ScheduleError(PolicyError):
    """A policy's schedule cannot be run (e.g. it never fires)."""


@dataclass
class _Entry:
    policy_id: str
    schedule: CronSchedule
    registries: list[str]
    next_run: datetime
    thread: threading.Thread | None = None
    skipped: int = 0

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class Scheduler:
    """Fires sweeps; ``clock`` returns an aware UTC datetime (tests may pass their own)."""

    def __init__(
        self,
        sweep: SweepFunc,
        state: StateBackend,
        configured: list[str],
        tick: float = 0.2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sweep = sweep
        self._state = state
        self._configured = configured
        self._tick = tick
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def validate(self, published: PublishedBundle) -> None:
        """Raise :class:`ScheduleError` when a bundle's schedules cannot be taken; the
        bundle manager runs this before publishing, so such a change is rejected like a
        bad bundle (the last good bundle and its schedules stay)."""
        with self._lock:
            self._entries_for(published, self._clock())

    def refresh(self, published: PublishedBundle) -> None:
        """Take the schedules of a newly published bundle (keeps running sweeps)."""
        now = self._clock()
        with self._lock:
            self._entries = self._entries_for(published, now)

    def _entries_for(self, published: PublishedBundle, now: datetime) -> dict[str, _Entry]:
        entries: dict[str, _Entry] = {}
        for loaded in published.policy_set.policies:
            policy = loaded.policy
            if not policy.enabled or not policy.schedule:
                continue
            old = self._entries.get(policy.id)
            registries = source_registries(policy, self._configured)
            if old is not None and old.schedule.text == policy.schedule:
                entries[policy.id] = dataclasses.replace(old, registries=registries)
                continue
            try:
                schedule = CronSchedule.parse(policy.schedule)
                next_run = schedule.next_after(now)
            except ValueError as exc:
                where = f"{loaded.file}:{loaded.line}" if loaded.line else loaded.file
                raise ScheduleError(
                    f"{where}: policy {policy.id!r}: schedule {policy.schedule!r}: {exc}"
                ) from None
            entries[policy.id] = _Entry(
                policy.id, schedule, registries, next_run, old.thread if old else None
            )
        return entries

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="freightliner-scheduler", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self._tick):
            now = self._clock()
            with self._lock:
                for entry in self._entries.values():
                    if entry.next_run > now:
                        continue
                    entry.next_run = entry.schedule.next_after(now)
                    if entry.running:
                        entry.skipped += 1
                        log.warning(
                            "previous sweep still running; fire time skipped",
                            extra={"fields": {"policy_id": entry.policy_id}},
                        )
                        continue
                    entry.thread = threading.Thread(
                        target=self._sweep,
                        args=(entry.policy_id, list(entry.registries), self.stopping),
                        name=f"freightliner-sweep-{entry.policy_id}",
                        daemon=True,
                    )
                    entry.thread.start()

    def stop(self, grace: float) -> bool:
        """Stop firing; wait up to ``grace`` seconds for running sweeps. True when all ended."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        deadline = threading.Event()
        timer = threading.Timer(grace, deadline.set)
        timer.start()
        try:
            with self._lock:
                threads = [e.thread for e in self._entries.values() if e.thread is not None]
            for thread in threads:
                while thread.is_alive() and not deadline.is_set():
                    thread.join(timeout=0.1)
            return not any(t.is_alive() for t in threads)
        finally:
            timer.cancel()

    def view(self) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries.values())
        result = []
        for entry in sorted(entries, key=lambda e: e.policy_id):
            last = self._state.sweeps(entry.policy_id, limit=1)
            result.append(
                {
                    "policy_id": entry.policy_id,
                    "schedule": entry.schedule.text,
                    "registries": entry.registries,
                    "next_run": entry.next_run.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "running": entry.running,
                    "skipped_fire_times": entry.skipped,
                    "last_sweep": last[0].__dict__ if last else None,
                }
            )
        return result
