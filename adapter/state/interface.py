"""What a state backend stores and answers: replications done, and sweeps run.

Two backends: :class:`adapter.service.state.StateDB` (SQLite, one process, the
default) and :class:`adapter.state.postgres.PostgresState` (shared by any number
of ``serve`` replicas and workers; ``state: {url: postgresql://...}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ReplicationRecord", "StateBackend", "SweepProgress", "SweepRecord"]


@dataclass(frozen=True)
class ReplicationRecord:
    source_digest: str
    target: str
    target_digest: str
    source: str
    policy_id: str
    bundle_revision: str
    replicated_at: float


@dataclass(frozen=True)
class SweepRecord:
    id: int
    policy_id: str
    started_at: float
    finished_at: float | None
    result: str
    images: int
    copied: int
    already: int
    failed: int


@dataclass(frozen=True)
class SweepProgress(SweepRecord):
    """A sweep in the shared state: its cron fire time and, in queue mode, its tasks.

    ``tasks`` copy tasks were planned (one per image x target); ``queued`` of them
    are not finished yet; ``retries`` counts their retries (``Retry-After``, a busy
    copy lock, the rate limit); ``planned`` is false while the scheduler still plans."""

    fire_time: str | None = None
    mode: str = "embedded"
    planned: bool = False
    tasks: int = 0
    queued: int = 0
    retries: int = 0


class StateBackend(Protocol):
    """The operations ``serve`` (sweeps, the scheduler view) needs of a state database."""

    def replicated(self, source_digest: str, target: str) -> ReplicationRecord | None: ...

    def record(
        self,
        source_digest: str,
        target: str,
        target_digest: str,
        *,
        source: str,
        policy_id: str,
        bundle_revision: str,
    ) -> object: ...

    def replications(self) -> list[ReplicationRecord]: ...

    def start_sweep(self, policy_id: str) -> int: ...

    def finish_sweep(
        self, sweep_id: int, result: str, images: int, copied: int, already: int, failed: int
    ) -> None: ...

    def sweeps(self, policy_id: str | None = None, limit: int = 20) -> Sequence[SweepRecord]: ...

    def close(self) -> None: ...
