"""The one retry helper (adapter.registry.http): backoff, jitter, Retry-After, bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from adapter.registry.http import (
    Retry,
    RetrySchedule,
    http_verdict,
    parse_retry_after,
    with_retries,
)
from adapter.registry.retry import is_transient, registry_verdict
from migrate.core.errors import AuthenticationError, RegistryError
from migrate.core.retry import RetrySettings

SETTINGS = RetrySettings(
    max_attempts=5, initial_backoff_seconds=0.5, max_backoff_seconds=3.0, multiplier=2.0
)
SCHEDULE = RetrySchedule.from_settings(SETTINGS, max_retry_after=10.0, max_total=100.0)
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def test_exponential_backoff_is_capped() -> None:
    assert [SCHEDULE.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_has_equal_jitter() -> None:
    # half the backoff fixed, half random: rng 0 gives half, rng ~1 gives the whole
    assert SCHEDULE.delay(2, None, rng=lambda: 0.0) == 0.5
    assert SCHEDULE.delay(2, None, rng=lambda: 1.0) == 1.0
    assert SCHEDULE.delay(3, None, rng=lambda: 0.5) == 1.5


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:05 GMT", NOW) == 5.0
    assert parse_retry_after("Mon, 23 Nov 2026 11:59:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_retry_after_is_honoured_never_shortened_and_capped() -> None:
    # never less than the server asked; at most 10 % more; capped at max_retry_after
    assert SCHEDULE.delay(1, "2", rng=lambda: 0.0) == 2.0
    assert SCHEDULE.delay(1, "2", rng=lambda: 1.0) == pytest.approx(2.2)
    assert SCHEDULE.delay(1, "3600", rng=lambda: 0.0) == 10.0


def _responses(*statuses: int, retry_after: str | None = None) -> list[httpx.Response]:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return [httpx.Response(s, headers=headers) for s in statuses]


def test_with_retries_retries_until_success_with_the_announced_waits() -> None:
    answers = iter(_responses(429, 503, 200, retry_after="3"))
    sleeps: list[float] = []
    result = with_retries(lambda: next(answers), http_verdict, SCHEDULE, sleep=sleeps.append)
    assert result.status_code == 200
    assert len(sleeps) == 2 and all(3.0 <= s <= 3.3 for s in sleeps)


def test_with_retries_returns_the_last_answer_after_the_attempts() -> None:
    answers = iter(_responses(500, 500, 500))
    sleeps: list[float] = []
    schedule = RetrySchedule(attempts=3, initial=0.1)
    result = with_retries(lambda: next(answers), http_verdict, schedule, sleep=sleeps.append)
    assert result.status_code == 500 and len(sleeps) == 2


def test_with_retries_stops_at_the_total_bound() -> None:
    # 10 attempts allowed, but Retry-After 8 s twice would pass max_total 10 s: one wait only
    schedule = RetrySchedule(attempts=10, max_retry_after=60.0, max_total=10.0)
    answers = iter(_responses(429, 429, 429, retry_after="8"))
    sleeps: list[float] = []
    calls = 0

    def call() -> httpx.Response:
        nonlocal calls
        calls += 1
        return next(answers)

    result = with_retries(call, http_verdict, schedule, sleep=sleeps.append, rng=lambda: 0.0)
    assert (result.status_code, calls, sleeps) == (429, 2, [8.0])


def test_with_retries_raises_a_final_error_at_once_and_a_transient_one_at_the_end() -> None:
    sleeps: list[float] = []

    def refused() -> httpx.Response:
        raise ValueError("not retried")

    with pytest.raises(ValueError):
        with_retries(refused, http_verdict, SCHEDULE, sleep=sleeps.append)
    assert sleeps == []

    def cut() -> httpx.Response:
        raise httpx.ReadError("reset")

    with pytest.raises(httpx.ReadError):
        with_retries(cut, http_verdict, RetrySchedule(attempts=3), sleep=sleeps.append)
    assert len(sleeps) == 2


def test_registry_verdict_classifies_by_cause_and_keeps_retry_after() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/v2/")

    def failed(status: int, headers: dict[str, str] | None = None) -> RegistryError:
        response = httpx.Response(status, request=request, headers=headers or {})
        try:
            raise httpx.HTTPStatusError("x", request=request, response=response)
        except httpx.HTTPStatusError as exc:
            try:
                raise RegistryError("wrapped") from exc
            except RegistryError as wrapped:
                return wrapped

    assert registry_verdict(failed(429, {"Retry-After": "4"})) == Retry("4")
    assert is_transient(failed(503)) and not is_transient(failed(404))
    try:
        raise RegistryError("cut") from httpx.ReadError("reset")
    except RegistryError as exc:
        assert registry_verdict(exc) == Retry()
    assert not is_transient(AuthenticationError("no"))
    assert not is_transient(ValueError("x"))
