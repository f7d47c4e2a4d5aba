"""The PostgreSQL state on a real server: schema versions, the unique constraints, sweeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest

from adapter.state.postgres import PostgresState
from adapter.state.schema import MIGRATIONS
from migrate.core.errors import ConfigError

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_schema_is_created_versioned_and_migrated_from_version_1(pg_url: str) -> None:
    # a database as release 1 left it: version 1 only, with a row
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE freightliner_schema (version INTEGER PRIMARY KEY, description TEXT"
            " NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        conn.execute(MIGRATIONS[0][2])
        conn.execute("INSERT INTO freightliner_schema (version, description) VALUES (1, 'v1')")
        conn.execute(
            "INSERT INTO replications VALUES (%s, 'dst/a:v1', %s, 'src/a:v1', 'p', 'r', 1.0)",
            (D1, D1),
        )
    state = PostgresState(pg_url, owner="test")
    assert state.schema_version() == 2
    assert [(r.source_digest, r.target, r.target_digest) for r in state.replications()] == [
        (D1, "dst/a:v1", D1)
    ]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        versions = conn.execute("SELECT version FROM freightliner_schema ORDER BY 1").fetchall()
    assert versions == [(1,), (2,)]
    assert PostgresState(pg_url).schema_version() == 2  # a second open migrates nothing
    state.close()


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    PostgresState(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO freightliner_schema (version, description) VALUES (99, 'x')")
    with pytest.raises(ConfigError) as error:
        PostgresState(pg_url)
    assert error.value.message == (
        "state database: schema version 99 is newer than this release knows (2); "
        "upgrade freightliner-policy"
    )


def test_a_copy_is_recorded_once_and_a_fire_time_claimed_once(pg_url: str) -> None:
    a, b = PostgresState(pg_url, owner="a"), PostgresState(pg_url, owner="b")
    assert a.record(D1, "dst/x:v1", D1, source="src/x:v1", policy_id="p", bundle_revision="r")
    assert not b.record(D1, "dst/x:v1", D2, source="src/x:v1", policy_id="p", bundle_revision="r")
    with (
        psycopg.connect(pg_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.UniqueViolation),
    ):
        conn.execute(
            "INSERT INTO replications VALUES (%s, 'dst/x:v1', %s, 's', 'p', 'r', 1.0, 'c')",
            (D1, D1),
        )
    fire = datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)
    first = a.claim_fire("mirror", fire, "queue")
    assert first is not None
    assert b.claim_fire("mirror", fire, "queue") is None
    assert b.last_fire_time("mirror") == fire
    assert b.unplanned_sweeps("mirror") == [(first, fire)]
    queued = a.add_tasks(first, [("k1", D1, "dst/x:v1"), ("k2", D2, "dst/y:v1")])
    assert queued == {"k1", "k2"}
    assert a.add_tasks(first, [("k1", D1, "dst/x:v1")]) == {"k1"}  # a resumed planner
    a.mark_planned(first, images=2)
    assert a.finish_task(first, "k1", "copied", worker="w1")
    assert not b.finish_task(first, "k1", "copied", worker="w2")  # a duplicate delivery
    a.count_retry(first, "k2")
    progress = b.sweep(first)
    assert progress is not None
    assert (
        progress.finished_at,
        progress.tasks,
        progress.queued,
        progress.copied,
        progress.retries,
    ) == (None, 2, 1, 1, 1)
    assert progress.fire_time == "2026-11-29T12:00:05Z"
    assert b.finish_task(first, "k2", "failed", error="boom")
    done = a.sweep(first)
    assert done is not None and done.finished_at is not None
    assert (done.result, done.copied, done.failed, done.queued) == ("failed", 1, 1, 0)
    assert a.unfinished_sweep("mirror") is None
    a.close()
    b.close()


def test_copy_locks_exclude_and_die_with_the_connection(pg_url: str) -> None:
    a, b = PostgresState(pg_url), PostgresState(pg_url)
    with a.copy_lock("key") as held:
        assert held
        with b.copy_lock("key") as other:
            assert not other
    with b.copy_lock("key") as again:
        assert again
    with a.copy_lock("key2") as held:
        assert held
        a._local.conn.close()  # the worker's connection is gone (a killed worker)
        # The server releases the lock when it notices the connection is gone, which
        # is not always before the next statement of another connection: wait for it.
        deadline = time.monotonic() + 10
        while True:
            with b.copy_lock("key2") as other:
                if other:
                    break
            assert time.monotonic() < deadline, "the lock outlived its connection by 10 s"
            time.sleep(0.05)
    a.close()
    b.close()
