"""Backoff and Retry-After arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from adapter.registry.retry import backoff_delay, is_transient, parse_retry_after, retry_delay
from migrate.core.errors import AuthenticationError, RegistryError
from migrate.core.retry import RetrySettings

SETTINGS = RetrySettings(
    max_attempts=5, initial_backoff_seconds=0.5, max_backoff_seconds=3.0, multiplier=2.0
)
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def test_exponential_backoff_is_capped() -> None:
    assert [backoff_delay(SETTINGS, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:05 GMT", NOW) == 5.0
    assert parse_retry_after("Mon, 23 Nov 2026 11:59:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_retry_after_wins_over_backoff_but_is_capped() -> None:
    assert retry_delay(SETTINGS, 1, "2", cap=10.0) == 2.0
    assert retry_delay(SETTINGS, 1, "3600", cap=10.0) == 10.0
    assert retry_delay(SETTINGS, 2, None, cap=10.0) == 1.0


def test_transient_classification() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/v2/")

    def failed(status: int) -> RegistryError:
        try:
            raise httpx.HTTPStatusError(
                "x", request=request, response=httpx.Response(status, request=request)
            )
        except httpx.HTTPStatusError as exc:
            try:
                raise RegistryError("wrapped") from exc
            except RegistryError as wrapped:
                return wrapped

    assert is_transient(failed(503)) and is_transient(failed(429))
    assert not is_transient(failed(404))
    try:
        raise RegistryError("cut") from httpx.ReadError("reset")
    except RegistryError as exc:
        assert is_transient(exc)
    assert not is_transient(AuthenticationError("no"))
    assert not is_transient(ValueError("x"))
