"""The one cron implementation: validation and scheduling agree; CRON_TZ=/TZ= prefixes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from migrate.core.cron import CronSchedule, parse_cron
from migrate.policy import values


def test_policy_values_reexports_the_one_parser() -> None:
    assert values.parse_cron is parse_cron


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("CRON_TZ=Europe/Berlin 0 30 2 * * *", 6),
        ("TZ=America/New_York */5 * * * *", 5),
        ("CRON_TZ=UTC @daily", 0),
        ("TZ=Asia/Tokyo @every 1h", 0),
    ],
)
def test_zone_prefixes_validate(text: str, count: int) -> None:
    assert parse_cron(text) == count


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "CRON_TZ=Mars/Olympus 0 * * * *",
            "unknown time zone 'Mars/Olympus' in CRON_TZ=Mars/Olympus (an IANA name such as "
            "'Europe/Berlin')",
        ),
        (
            "TZ=../../etc/passwd 0 * * * *",
            "unknown time zone '../../etc/passwd' in TZ=../../etc/passwd (an IANA name such as "
            "'Europe/Berlin')",
        ),
        ("TZ=/etc/localtime 0 * * * *", "unknown time zone '/etc/localtime' in TZ=/etc/localtime"),
        ("CRON_TZ=UTC 61 * * * *", "minute field: 61 is outside 0-59"),
        ("@every 10ms", "@every interval must be at least 1s, got '@every 10ms'"),
    ],
)
def test_bad_schedules_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_cron(text)
    assert str(caught.value).startswith(message)
    with pytest.raises(ValueError):
        CronSchedule.parse(text)


def test_fields_are_read_in_the_named_zone() -> None:
    # 02:30 in Berlin (CET, UTC+1 in November) is 01:30 UTC.
    schedule = CronSchedule.parse("CRON_TZ=Europe/Berlin 0 30 2 * * *")
    after = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert schedule.next_after(after) == datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    # Summer time: UTC+2.
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert schedule.next_after(summer) == datetime(2026, 7, 2, 0, 30, tzinfo=UTC)


def test_a_wall_time_skipped_by_dst_does_not_fire_and_a_repeated_one_fires_once() -> None:
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29 and repeats 02:00-03:00 on 2026-10-25.
    schedule = CronSchedule.parse("TZ=Europe/Berlin 0 30 2 * * *")
    spring = schedule.next_after(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert spring == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    autumn = schedule.next_after(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert autumn == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first one
    assert schedule.next_after(autumn) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_utc_is_the_default() -> None:
    assert CronSchedule.parse("0 30 2 * * *").zone is UTC
    assert CronSchedule.parse("0 30 2 * * *").next_after(
        datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    ) == datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
