"""Pure parts of the service: cron next-fire times, state db, sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.service.scheduler import source_registries
from adapter.service.state import StateDB
from migrate.core.cron import CronSchedule
from migrate.policy.model import Policy

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*/5 * * * *", datetime(2026, 11, 23, 12, 5, tzinfo=UTC)),
        ("0 */6 * * *", datetime(2026, 11, 23, 18, 0, tzinfo=UTC)),
        ("*/2 * * * * *", datetime(2026, 11, 23, 12, 0, 2, tzinfo=UTC)),
        ("0 0 1 * MON", datetime(2026, 11, 30, tzinfo=UTC)),  # day-of-month OR day-of-week
        ("0 0 * * MON-FRI", datetime(2026, 11, 24, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, tzinfo=UTC)),
        ("30 15 10 * * ?", datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)),
        ("0 0 * * 7", datetime(2026, 11, 29, tzinfo=UTC)),  # 7 is Sunday
        ("@weekly", datetime(2026, 11, 29, tzinfo=UTC)),
        ("@hourly", datetime(2026, 11, 23, 13, tzinfo=UTC)),
        ("@every 90s", datetime(2026, 11, 23, 12, 1, 30, tzinfo=UTC)),
        ("5/20 * * * *", datetime(2026, 11, 23, 12, 5, tzinfo=UTC)),
    ],
)
def test_next_after(text: str, expected: datetime) -> None:
    assert CronSchedule.parse(text).next_after(T0) == expected


def test_rejects_what_parse_cron_rejects() -> None:
    for text in ["* * * *", "61 * * * *", "@sometimes", "@every 10ms"]:
        with pytest.raises(ValueError):
            CronSchedule.parse(text)


def _brute(schedule: CronSchedule, after: datetime) -> datetime:
    t = after.replace(microsecond=0) + timedelta(seconds=1)
    while True:
        dom = t.day in schedule.days
        dow = (t.isoweekday() % 7) in schedule.weekdays
        day = (dom and dow) if (schedule.days_star or schedule.weekdays_star) else (dom or dow)
        if (
            t.month in schedule.months
            and day
            and t.hour in schedule.hours
            and t.minute in schedule.minutes
            and t.second in schedule.seconds
        ):
            return t
        t += timedelta(seconds=1)


_field = st.sampled_from(["*", "*/7", "3", "1-4", "2,5", "10-40/15"])


@settings(max_examples=60, deadline=None)
@given(
    minute=_field,
    hour=st.sampled_from(["*", "*/5", "3", "0-2"]),
    offset=st.integers(min_value=0, max_value=10**6),
)
def test_matches_brute_force(minute: str, hour: str, offset: int) -> None:
    schedule = CronSchedule.parse(f"{minute} {hour} * * *")
    after = T0 + timedelta(seconds=offset)
    assert schedule.next_after(after) == _brute(schedule, after)


def test_state_db_survives_reopen_and_closes_running_sweeps(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "s.sqlite")
    db.record(
        "sha256:a", "dst/r:t", "sha256:a", source="src/r:t", policy_id="p", bundle_revision="r1"
    )
    db.start_sweep("p")
    db.close()
    again = StateDB(tmp_path / "s.sqlite")
    record = again.replicated("sha256:a", "dst/r:t")
    assert record is not None and record.target_digest == "sha256:a"
    assert again.replicated("sha256:b", "dst/r:t") is None
    assert [s.result for s in again.sweeps("p")] == ["abandoned"]


def test_source_registries() -> None:
    def policy(conditions: list[dict[str, object]]) -> Policy:
        return Policy.model_validate({"id": "p", "conditions": conditions})

    configured = ["src", "dst"]
    assert source_registries(
        policy([{"type": "registry", "operator": "equals", "value": "src"}]), configured
    ) == ["src"]
    assert (
        source_registries(policy([{"type": "tag", "operator": "equals", "value": "x"}]), configured)
        == configured
    )
    assert source_registries(
        policy([{"type": "registry", "operator": "in", "value": ["dst", "nope"]}]), configured
    ) == ["dst"]
    assert (
        source_registries(
            policy(
                [
                    {"type": "registry", "operator": "equals", "value": "src"},
                    {"type": "tag", "operator": "equals", "value": "x", "logical_op": "OR"},
                ]
            ),
            configured,
        )
        == configured
    )
