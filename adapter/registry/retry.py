"""Retry timing: exponential backoff from :class:`RetrySettings` and ``Retry-After``."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import httpx

from migrate.core.errors import RegistryError
from migrate.core.retry import RetrySettings

__all__ = [
    "DEFAULT_RETRY",
    "RETRYABLE_STATUSES",
    "backoff_delay",
    "is_transient",
    "parse_retry_after",
    "retry_delay",
]

#: Statuses worth another attempt: rate limiting and server-side failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: The client's default: 4 attempts, 0.5 s, 1 s, 2 s between them.
DEFAULT_RETRY = RetrySettings(
    max_attempts=4, initial_backoff_seconds=0.5, max_backoff_seconds=10.0, multiplier=2.0
)


def backoff_delay(settings: RetrySettings, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based), without jitter."""
    delay = settings.initial_backoff_seconds * settings.multiplier ** max(attempt - 1, 0)
    return float(min(delay, settings.max_backoff_seconds))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds (``"3"``) or an HTTP-date.

    ``None`` when absent or invalid.

    A date in the past gives ``0.0``.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)


def retry_delay(
    settings: RetrySettings, attempt: int, retry_after: str | None, cap: float
) -> float:
    """The wait before the next attempt: ``Retry-After`` (at most ``cap``), else the backoff."""
    announced = parse_retry_after(retry_after)
    if announced is not None:
        return min(announced, cap)
    return backoff_delay(settings, attempt)


def is_transient(error: BaseException) -> bool:
    """True for a :class:`RegistryError` caused by a connection problem or a retryable status.

    The client raises its errors ``from`` the underlying :class:`httpx.TransportError`
    or :class:`httpx.HTTPStatusError`; this looks at that cause.
    """
    if not isinstance(error, RegistryError):
        return False
    cause = error.__cause__
    if isinstance(cause, httpx.TransportError):
        return True
    return isinstance(cause, httpx.HTTPStatusError) and (
        cause.response.status_code in RETRYABLE_STATUSES
    )
