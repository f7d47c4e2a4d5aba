"""The PostgreSQL schema, versioned: each migration runs once, in order, in one transaction.

``freightliner_schema`` holds one row per applied version. ``serve`` and
``worker`` apply the missing migrations at startup under a transaction-level
advisory lock (two replicas starting together migrate once); a database whose
version is newer than this release knows is refused (docs/deployment.md).

* **1** ``replications`` (``UNIQUE (source_digest, target)``: one copy of a
  digest to a target can be recorded only once) and ``sweeps``: what the
  SQLite state holds;
* **2** queue mode and the shared scheduler: ``sweeps.fire_time`` (``UNIQUE
  (policy_id, fire_time)``: one sweep per cron fire time), ``mode``,
  ``planned``; ``sweep_tasks`` (one row per image x target a sweep enqueued);
  ``audit_records`` (the decision and execution audit records, JSONB).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_LOCK"]

#: the advisory lock key (pg_advisory_xact_lock) migrations run under
SCHEMA_LOCK = 0x46_4C_53_43  # "FLSC"

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "replications and sweeps",
        """
CREATE TABLE replications (
    source_digest TEXT NOT NULL,
    target TEXT NOT NULL,
    target_digest TEXT NOT NULL,
    source TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    bundle_revision TEXT NOT NULL,
    replicated_at DOUBLE PRECISION NOT NULL,
    CONSTRAINT replications_once UNIQUE (source_digest, target)
);
CREATE TABLE sweeps (
    id BIGSERIAL PRIMARY KEY,
    policy_id TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    result TEXT NOT NULL DEFAULT 'running',
    images INTEGER NOT NULL DEFAULT 0,
    copied INTEGER NOT NULL DEFAULT 0,
    already INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sweeps_policy ON sweeps (policy_id, id);
""",
    ),
    (
        2,
        "fire times, queue mode tasks, audit records",
        """
ALTER TABLE sweeps ADD COLUMN fire_time TIMESTAMPTZ;
ALTER TABLE sweeps ADD COLUMN mode TEXT NOT NULL DEFAULT 'embedded';
ALTER TABLE sweeps ADD COLUMN planned BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE sweeps ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE sweeps ADD CONSTRAINT sweeps_one_per_fire_time UNIQUE (policy_id, fire_time);
ALTER TABLE replications ADD COLUMN copied_by TEXT NOT NULL DEFAULT '';
CREATE TABLE sweep_tasks (
    sweep_id BIGINT NOT NULL REFERENCES sweeps (id),
    task_key TEXT NOT NULL,
    source_digest TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    retries INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    worker TEXT NOT NULL DEFAULT '',
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sweep_id, task_key)
);
CREATE INDEX sweep_tasks_open ON sweep_tasks (sweep_id) WHERE status = 'queued';
CREATE TABLE audit_records (
    id BIGSERIAL PRIMARY KEY,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind TEXT NOT NULL,
    record JSONB NOT NULL
);
""",
    ),
]
