"""The shared state in PostgreSQL (``state: {url: postgresql://...}``): replicas and workers.

What it stores (schema: :mod:`adapter.state.schema`, versioned, migrated at startup):

* ``replications``: one row per (source digest, target); ``UNIQUE`` makes a
  second record of the same copy impossible (:meth:`PostgresState.record`
  answers whether this call recorded it);
* ``sweeps``: every sweep, with the cron ``fire_time`` it ran for (``UNIQUE
  (policy_id, fire_time)``: :meth:`claim_fire` lets exactly one replica take a
  fire time) and, in queue mode, ``sweep_tasks``: one row per image x target
  enqueued, ``queued`` until a worker finishes it (``copied``, ``already``,
  ``failed``); the sweep finishes when it is planned and no task is queued;
* ``audit_records``: the audit log's records (:class:`AuditSink`).

Every statement runs in autocommit on a connection guarded by a lock; copy locks
(:meth:`copy_lock`) are session advisory locks on a connection per thread, so a
worker that dies releases them with its connections.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from adapter.state.interface import ReplicationRecord, SweepProgress
from adapter.state.schema import MIGRATIONS, SCHEMA_LOCK
from migrate.core.errors import ConfigError

__all__ = ["AuditSink", "PostgresState", "TaskCounts", "lock_id"]

log = logging.getLogger("freightliner.state")
_REPLICATION_COLUMNS = (
    "source_digest, target, target_digest, source, policy_id, bundle_revision, replicated_at"
)
_SWEEP_SELECT = """
SELECT s.id, s.policy_id, s.started_at, s.finished_at, s.result, s.images,
       CASE WHEN s.mode = 'queue' THEN COALESCE(t.copied, 0) ELSE s.copied END,
       CASE WHEN s.mode = 'queue' THEN COALESCE(t.already, 0) ELSE s.already END,
       CASE WHEN s.mode = 'queue' THEN COALESCE(t.failed, 0) ELSE s.failed END,
       s.fire_time, s.mode, s.planned, COALESCE(t.tasks, 0), COALESCE(t.queued, 0),
       COALESCE(t.retries, 0)
FROM sweeps s LEFT JOIN LATERAL (
    SELECT count(*) AS tasks,
           count(*) FILTER (WHERE status = 'queued') AS queued,
           count(*) FILTER (WHERE status = 'copied') AS copied,
           count(*) FILTER (WHERE status = 'already') AS already,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           COALESCE(sum(retries), 0) AS retries
    FROM sweep_tasks WHERE sweep_id = s.id
) t ON true
"""


def lock_id(text: str) -> int:
    """A signed 64-bit advisory lock key for ``text`` (stable across processes)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


class TaskCounts:
    """Cluster-wide task totals (the queue metrics read them)."""

    def __init__(self, queued: int, failed: int, retries: int, copied: int) -> None:
        self.queued, self.failed, self.retries, self.copied = queued, failed, retries, copied


class PostgresState:
    """A thread-safe handle on the shared state database; migrates the schema when opened."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0, owner: str = "") -> None:
        self.url = url
        self.owner = owner
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._local = threading.local()
        self._db = self._connect()
        self.migrate()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout))
            )
        except psycopg.Error as exc:
            raise ConfigError(f"state database: cannot connect: {_one_line(exc)}") from exc

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._db.closed or self._db.broken:
                self._db = self._connect()
            with self._db.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall() if cursor.description is not None else []

    # -- schema ----------------------------------------------------------------
    def migrate(self, target: int | None = None) -> int:
        """Apply the missing migrations up to ``target`` (default: all); the version."""
        known = MIGRATIONS[-1][0]
        wanted = known if target is None else target
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS freightliner_schema ("
                " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cursor.execute("SELECT COALESCE(max(version), 0) FROM freightliner_schema")
            row = cursor.fetchone()
            current = int(row[0]) if row else 0
            if current > known:
                raise ConfigError(
                    f"state database: schema version {current} is newer than this release "
                    f"knows ({known}); upgrade freightliner-policy"
                )
            for version, description, sql in MIGRATIONS:
                if current < version <= wanted:
                    cursor.execute(sql)
                    cursor.execute(
                        "INSERT INTO freightliner_schema (version, description) VALUES (%s, %s)",
                        (version, description),
                    )
                    log.info(
                        "state schema migrated",
                        extra={"fields": {"event": "schema_migrated", "version": version}},
                    )
                    current = version
        return current

    def schema_version(self) -> int:
        return int(self._exec("SELECT COALESCE(max(version), 0) FROM freightliner_schema")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()

    # -- replications ----------------------------------------------------------
    def replicated(self, source_digest: str, target: str) -> ReplicationRecord | None:
        rows = self._exec(
            f"SELECT {_REPLICATION_COLUMNS} FROM replications WHERE source_digest=%s AND target=%s",
            (source_digest, target),
        )
        return ReplicationRecord(*rows[0]) if rows else None

    def record(
        self,
        source_digest: str,
        target: str,
        target_digest: str,
        *,
        source: str,
        policy_id: str,
        bundle_revision: str,
    ) -> bool:
        """Record a copy; False when it was recorded already (the unique constraint)."""
        rows = self._exec(
            "INSERT INTO replications (source_digest, target, target_digest, source, policy_id,"
            " bundle_revision, replicated_at, copied_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT ON CONSTRAINT replications_once DO NOTHING RETURNING 1",
            (
                source_digest,
                target,
                target_digest,
                source,
                policy_id,
                bundle_revision,
                time.time(),
                self.owner,
            ),
        )
        return bool(rows)

    def replications(self) -> list[ReplicationRecord]:
        rows = self._exec(
            f"SELECT {_REPLICATION_COLUMNS} FROM replications ORDER BY replicated_at, target"
        )
        return [ReplicationRecord(*row) for row in rows]

    # -- sweeps ----------------------------------------------------------------
    def start_sweep(self, policy_id: str, mode: str = "embedded") -> int:
        """A sweep that no cron fire time names (e.g. ``POST /v1/replicate`` in queue mode)."""
        rows = self._exec(
            "INSERT INTO sweeps (policy_id, started_at, mode, owner) VALUES (%s, %s, %s, %s)"
            " RETURNING id",
            (policy_id, time.time(), mode, self.owner),
        )
        return int(rows[0][0])

    def claim_fire(self, policy_id: str, fire_time: datetime, mode: str) -> int | None:
        """Take one cron fire time: the new sweep's id, or None when another replica has it."""
        rows = self._exec(
            "INSERT INTO sweeps (policy_id, fire_time, started_at, mode, owner)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT ON CONSTRAINT sweeps_one_per_fire_time DO NOTHING RETURNING id",
            (policy_id, fire_time, time.time(), mode, self.owner),
        )
        return int(rows[0][0]) if rows else None

    def last_fire_time(self, policy_id: str) -> datetime | None:
        rows = self._exec("SELECT max(fire_time) FROM sweeps WHERE policy_id=%s", (policy_id,))
        value = rows[0][0] if rows else None
        return value.astimezone(UTC) if isinstance(value, datetime) else None

    def unplanned_sweeps(self, policy_id: str) -> list[tuple[int, datetime]]:
        """Fired sweeps whose planning never ended (their replica died): id and fire time."""
        rows = self._exec(
            "SELECT id, fire_time FROM sweeps WHERE policy_id=%s AND fire_time IS NOT NULL"
            " AND NOT planned AND finished_at IS NULL ORDER BY id",
            (policy_id,),
        )
        return [(int(r[0]), r[1].astimezone(UTC)) for r in rows]

    def unfinished_sweep(self, policy_id: str) -> int | None:
        rows = self._exec(
            "SELECT id FROM sweeps WHERE policy_id=%s AND finished_at IS NULL"
            " AND fire_time IS NOT NULL ORDER BY id DESC LIMIT 1",
            (policy_id,),
        )
        return int(rows[0][0]) if rows else None

    def idle_seconds(self, sweep_id: int) -> float | None:
        """Seconds since a sweep's tasks last changed (or it started); None if unknown."""
        rows = self._exec(
            "SELECT GREATEST(s.started_at, COALESCE(max(t.updated_at), 0)) FROM sweeps s"
            " LEFT JOIN sweep_tasks t ON t.sweep_id = s.id WHERE s.id=%s GROUP BY s.id",
            (sweep_id,),
        )
        return time.time() - float(rows[0][0]) if rows else None

    def finish_sweep(
        self, sweep_id: int, result: str, images: int, copied: int, already: int, failed: int
    ) -> None:
        self._exec(
            "UPDATE sweeps SET finished_at=%s, result=%s, images=%s, copied=%s, already=%s,"
            " failed=%s, planned=true WHERE id=%s",
            (time.time(), result, images, copied, already, failed, sweep_id),
        )

    def sweeps(self, policy_id: str | None = None, limit: int = 20) -> list[SweepProgress]:
        query, args = _SWEEP_SELECT, []
        if policy_id is not None:
            query += " WHERE s.policy_id=%s"
            args.append(policy_id)
        rows = self._exec(query + " ORDER BY s.id DESC LIMIT %s", (*args, limit))
        return [_progress(row) for row in rows]

    def sweep(self, sweep_id: int) -> SweepProgress | None:
        rows = self._exec(_SWEEP_SELECT + " WHERE s.id=%s", (sweep_id,))
        return _progress(rows[0]) if rows else None

    # -- queue mode tasks -------------------------------------------------------
    def add_tasks(
        self, sweep_id: int, tasks: Sequence[tuple[str, str, str]], status: str = "queued"
    ) -> set[str]:
        """Record ``(task_key, source_digest, target)`` rows of a sweep with ``status``; the
        keys still queued (new ones, and ones a previous planner of the same sweep recorded
        but did not finish)."""
        if not tasks:
            return set()
        now = time.time()
        with self._lock:
            if self._db.closed or self._db.broken:
                self._db = self._connect()
            with self._db.transaction(), self._db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO sweep_tasks (sweep_id, task_key, source_digest, target, status,"
                    " updated_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [(sweep_id, key, digest, target, status, now) for key, digest, target in tasks],
                )
                cursor.execute(
                    "SELECT task_key FROM sweep_tasks WHERE sweep_id=%s AND status='queued'"
                    " AND task_key = ANY(%s)",
                    (sweep_id, [key for key, _, _ in tasks]),
                )
                return {str(r[0]) for r in cursor.fetchall()}

    def mark_planned(self, sweep_id: int, images: int, result: str = "") -> None:
        """Planning ended (``result``: ``failed`` or ``abandoned`` ends the sweep now)."""
        self._exec("UPDATE sweeps SET planned=true, images=%s WHERE id=%s", (images, sweep_id))
        if result:
            self._exec(
                "UPDATE sweeps SET finished_at=%s, result=%s WHERE id=%s AND finished_at IS NULL",
                (time.time(), result, sweep_id),
            )
        self.maybe_finish(sweep_id)

    def finish_task(
        self, sweep_id: int, task_key: str, status: str, error: str = "", worker: str = ""
    ) -> bool:
        """Close a queued task (``copied``/``already``/``failed``); False when it was closed
        already (a duplicate delivery). Finishes the sweep when it was the last one."""
        rows = self._exec(
            "UPDATE sweep_tasks SET status=%s, error=%s, worker=%s, updated_at=%s"
            " WHERE sweep_id=%s AND task_key=%s AND status='queued' RETURNING 1",
            (status, error[:2000], worker, time.time(), sweep_id, task_key),
        )
        self.maybe_finish(sweep_id)
        return bool(rows)

    def task_status(self, sweep_id: int, task_key: str) -> str | None:
        rows = self._exec(
            "SELECT status FROM sweep_tasks WHERE sweep_id=%s AND task_key=%s",
            (sweep_id, task_key),
        )
        return str(rows[0][0]) if rows else None

    def count_retry(self, sweep_id: int, task_key: str) -> None:
        self._exec(
            "UPDATE sweep_tasks SET retries=retries+1, updated_at=%s"
            " WHERE sweep_id=%s AND task_key=%s",
            (time.time(), sweep_id, task_key),
        )

    def maybe_finish(self, sweep_id: int) -> bool:
        """End a planned sweep whose tasks are all closed; True when this call ended it."""
        rows = self._exec(
            "UPDATE sweeps s SET finished_at=%s, result=CASE WHEN EXISTS (SELECT 1 FROM"
            " sweep_tasks WHERE sweep_id=s.id AND status='failed') THEN 'failed' ELSE 'ok' END,"
            " copied=(SELECT count(*) FROM sweep_tasks WHERE sweep_id=s.id AND status='copied'),"
            " already=(SELECT count(*) FROM sweep_tasks WHERE sweep_id=s.id AND status='already'),"
            " failed=(SELECT count(*) FROM sweep_tasks WHERE sweep_id=s.id AND status='failed')"
            " WHERE s.id=%s AND s.planned AND s.finished_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM sweep_tasks WHERE sweep_id=s.id AND status='queued') RETURNING 1",
            (time.time(), sweep_id),
        )
        return bool(rows)

    def task_counts(self) -> TaskCounts:
        row = self._exec(
            "SELECT count(*) FILTER (WHERE status='queued'), count(*) FILTER (WHERE"
            " status='failed'), COALESCE(sum(retries), 0), count(*) FILTER (WHERE"
            " status='copied') FROM sweep_tasks"
        )[0]
        return TaskCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    # -- copy locks --------------------------------------------------------------
    @contextmanager
    def copy_lock(self, key: str) -> Iterator[bool]:
        """Try the session advisory lock of a copy (True: held until the block ends)."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
        ident = lock_id(key)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ident,)).fetchone()
        held = bool(row and row[0])
        try:
            yield held
        finally:
            if held and not conn.closed and not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (ident,))

    # -- audit -------------------------------------------------------------------
    def insert_audit(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        with self._lock:
            if self._db.closed or self._db.broken:
                self._db = self._connect()
            with self._db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO audit_records (kind, record) VALUES (%s, %s::jsonb)",
                    [(str(r.get("kind", "")), json.dumps(r, ensure_ascii=False)) for r in records],
                )

    def audit_records(self, kind: str | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT record FROM audit_records", []
        if kind is not None:
            query += " WHERE kind=%s"
            args.append(kind)
        return [dict(r[0]) for r in self._exec(query + " ORDER BY id", args)]


class AuditSink:
    """Writes audit records to ``audit_records`` from a background thread, in batches, so a
    decision never waits for the database; :meth:`close` flushes what is left."""

    def __init__(self, state: PostgresState, batch: int = 200) -> None:
        self.state = state
        self.batch = batch
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="freightliner-audit-db", daemon=True)
        self._thread.start()

    def put(self, record: dict[str, Any]) -> None:
        self._queue.put(record)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            items = [first]
            while len(items) < self.batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in items if r is not None]
            try:
                self.state.insert_audit(records)
            except psycopg.Error as exc:
                log.error("audit records not stored: %s", _one_line(exc))
            if None in items:
                return

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)


def _progress(row: tuple[Any, ...]) -> SweepProgress:
    fire = row[9]
    return SweepProgress(
        int(row[0]),
        str(row[1]),
        float(row[2]),
        None if row[3] is None else float(row[3]),
        str(row[4]),
        int(row[5]),
        int(row[6]),
        int(row[7]),
        int(row[8]),
        fire_time=(
            fire.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if isinstance(fire, datetime)
            else None
        ),
        mode=str(row[10]),
        planned=bool(row[11]),
        tasks=int(row[12]),
        queued=int(row[13]),
        retries=int(row[14]),
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
