"""One scheduler among many ``serve`` replicas: leader election on the shared database.

The leader is the replica holding a PostgreSQL session advisory lock
(``pg_try_advisory_lock``) on its own connection. Every replica tries to take it
every ``state.leader_poll_seconds``; the leader checks its connection as often. A
leader that dies (``kill -9``, a lost machine) loses its connection, the server
releases the lock, and the next replica that asks becomes the leader. Fire times
are claimed in the database besides (``sweeps`` ``UNIQUE (policy_id,
fire_time)``), so even two replicas that both believe they lead (a partition
that the server has not noticed yet) cannot run one fire time twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import psycopg

from adapter.state.postgres import lock_id

__all__ = ["LEADER_LOCK", "Leadership"]

log = logging.getLogger("freightliner.queue.leader")
LEADER_LOCK = lock_id("freightliner-policy scheduler leader")


class Leadership:
    """Am I the scheduler? :meth:`check` answers (and tries to become it)."""

    def __init__(self, url: str, connect_timeout: float = 10.0, name: str = "") -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.name = name
        self.leader = False
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def check(self) -> bool:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self.leader = False
                    self._conn = psycopg.connect(
                        self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout))
                    )
                if self.leader:
                    self._conn.execute("SELECT 1")
                else:
                    row = self._conn.execute(
                        "SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)
                    ).fetchone()
                    self.leader = bool(row and row[0])
                    if self.leader:
                        log.info(
                            "this replica is the scheduler now",
                            extra={"fields": {"event": "leader_elected", "replica": self.name}},
                        )
            except psycopg.Error as exc:
                if self.leader:
                    log.error("lost the scheduler lock: %s", " ".join(str(exc).split()))
                self.leader = False
                self._drop()
            return self.leader

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        with self._lock:
            self.leader = False
            self._drop()  # closing the session releases the lock
