"""The service's state database (SQLite): what was replicated, and the sweeps run.

``replications`` maps a source digest and a target reference to the digest
written there, so a sweep after a restart does not copy unchanged images
again. Every write is its own committed transaction (WAL, ``synchronous=FULL``),
so a ``kill -9`` loses at most the copy in flight, whose tag the copier writes
last: the next sweep finds the tag (skipped) or copies it again (no partial tag).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from adapter.state.interface import ReplicationRecord, SweepRecord

__all__ = ["ReplicationRecord", "StateDB", "SweepRecord"]

_REPLICATION_COLUMNS = (
    "source_digest, target, target_digest, source, policy_id, bundle_revision, replicated_at"
)
_SWEEP_COLUMNS = "id, policy_id, started_at, finished_at, result, images, copied, already, failed"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS replications (
    source_digest TEXT NOT NULL,
    target TEXT NOT NULL,
    target_digest TEXT NOT NULL,
    source TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    bundle_revision TEXT NOT NULL,
    replicated_at REAL NOT NULL,
    PRIMARY KEY (source_digest, target)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    result TEXT NOT NULL DEFAULT 'running',
    images INTEGER NOT NULL DEFAULT 0,
    copied INTEGER NOT NULL DEFAULT 0,
    already INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0
);
"""


class StateDB:
    """A thread-safe handle on the state database file."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # Sweeps a previous process did not finish (killed) are closed as abandoned.
        self._db.execute("UPDATE sweeps SET result='abandoned' WHERE result='running'")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def replicated(self, source_digest: str, target: str) -> ReplicationRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_REPLICATION_COLUMNS} FROM replications"
                " WHERE source_digest=? AND target=?",
                (source_digest, target),
            ).fetchone()
        return ReplicationRecord(*row) if row else None

    def record(
        self,
        source_digest: str,
        target: str,
        target_digest: str,
        *,
        source: str,
        policy_id: str,
        bundle_revision: str,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replications VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    source_digest,
                    target,
                    target_digest,
                    source,
                    policy_id,
                    bundle_revision,
                    time.time(),
                ),
            )

    def replications(self) -> list[ReplicationRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_REPLICATION_COLUMNS} FROM replications ORDER BY replicated_at, target"
            ).fetchall()
        return [ReplicationRecord(*row) for row in rows]

    def start_sweep(self, policy_id: str) -> int:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO sweeps (policy_id, started_at) VALUES (?, ?)", (policy_id, time.time())
            )
            return int(cursor.lastrowid or 0)

    def finish_sweep(
        self, sweep_id: int, result: str, images: int, copied: int, already: int, failed: int
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE sweeps SET finished_at=?, result=?, images=?, copied=?, already=?, failed=?"
                " WHERE id=?",
                (time.time(), result, images, copied, already, failed, sweep_id),
            )

    def sweeps(self, policy_id: str | None = None, limit: int = 20) -> list[SweepRecord]:
        query = f"SELECT {_SWEEP_COLUMNS} FROM sweeps"
        args: tuple[object, ...] = ()
        if policy_id is not None:
            query += " WHERE policy_id=?"
            args = (policy_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [SweepRecord(*row) for row in rows]
