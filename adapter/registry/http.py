"""The one resilient HTTP layer: a client factory and a retry helper.

Every HTTP client of the adapter (registries, the OPA sidecar, webhooks) is
made by :func:`http_client` and repeats requests only through
:func:`with_retries`:

* **what is retried**: the caller's ``judge`` says so for a result or an
  error (for HTTP: connection errors and 429/500/502/503/504, see
  :func:`http_verdict`); a request whose body cannot be replayed is never
  repeated by the caller's loop;
* **how long it waits**: ``Retry-After`` when the server sent one (seconds
  or an HTTP-date), capped at :attr:`RetrySchedule.max_retry_after`, plus up
  to 10 % jitter (never less than the server asked); otherwise exponential
  backoff with "equal jitter" (half the backoff fixed, half random), so
  parallel workers do not retry in lockstep;
* **bound**: at most :attr:`RetrySchedule.attempts` attempts, and the sum of
  all waits of one call never exceeds :attr:`RetrySchedule.max_total`
  seconds (nor the caller's ``deadline``): when the next wait would cross it,
  the last result (or error) is returned (raised) at once.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import httpx

__all__ = [
    "DEFAULT_SCHEDULE",
    "RETRYABLE_STATUSES",
    "Retry",
    "RetrySchedule",
    "RetrySettingsLike",
    "http_client",
    "http_verdict",
    "parse_retry_after",
    "with_retries",
]

T = TypeVar("T")

#: Statuses worth another attempt: rate limiting and server-side failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_JITTER = 0.1


class RetrySettingsLike(Protocol):
    """What :meth:`RetrySchedule.from_settings` reads (a policy's ``RetrySettings``); a
    protocol so this module depends on nothing but httpx and sits below every user."""

    @property
    def max_attempts(self) -> int: ...
    @property
    def initial_backoff_seconds(self) -> float: ...
    @property
    def max_backoff_seconds(self) -> float: ...
    @property
    def multiplier(self) -> float: ...


@dataclass(frozen=True)
class RetrySchedule:
    """Attempts, backoff and the bounds of one retried call (see the module docstring)."""

    attempts: int = 4
    initial: float = 0.5
    multiplier: float = 2.0
    max_backoff: float = 10.0
    max_retry_after: float = 60.0
    max_total: float = 120.0

    @classmethod
    def from_settings(
        cls, settings: RetrySettingsLike, *, max_retry_after: float = 60.0, max_total: float = 120.0
    ) -> RetrySchedule:
        """A policy's ``retry_policy`` (or the client's settings) as a schedule."""
        return cls(
            attempts=settings.max_attempts,
            initial=settings.initial_backoff_seconds,
            multiplier=settings.multiplier,
            max_backoff=settings.max_backoff_seconds,
            max_retry_after=max_retry_after,
            max_total=max_total,
        )

    def backoff(self, attempt: int) -> float:
        """The backoff after failed attempt ``attempt`` (1-based), before jitter."""
        return float(min(self.initial * self.multiplier ** max(attempt - 1, 0), self.max_backoff))

    def delay(
        self, attempt: int, retry_after: str | None, rng: Callable[[], float] = random.random
    ) -> float:
        """The wait before the next attempt, jitter included."""
        announced = parse_retry_after(retry_after)
        if announced is not None:
            base = min(announced, self.max_retry_after)
            return base + rng() * _JITTER * max(base, self.initial)
        backoff = self.backoff(attempt)
        return backoff / 2 + rng() * backoff / 2


#: The registry client's default: 4 attempts, backoff 0.5 s, 1 s, 2 s; at most 120 s of waits.
DEFAULT_SCHEDULE = RetrySchedule()


@dataclass(frozen=True)
class Retry:
    """A judge's "try again", with the server's ``Retry-After`` when it sent one."""

    retry_after: str | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds from delta-seconds (``"3"``) or an HTTP-date; ``None`` when
    absent or invalid; a date in the past gives ``0.0``."""
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


def http_verdict(outcome: httpx.Response | BaseException) -> Retry | None:
    """The HTTP judge: retry transport errors and :data:`RETRYABLE_STATUSES`."""
    if isinstance(outcome, httpx.Response):
        if outcome.status_code in RETRYABLE_STATUSES:
            return Retry(outcome.headers.get("Retry-After"))
        return None
    return Retry() if isinstance(outcome, httpx.TransportError) else None


def with_retries(
    call: Callable[[], T],
    judge: Callable[[T | BaseException], Retry | None],
    schedule: RetrySchedule = DEFAULT_SCHEDULE,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    deadline: float | None = None,
    discard: Callable[[T], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> T:
    """Run ``call`` until ``judge`` accepts its result or error, within ``schedule``.

    An exception the judge does not retry is raised at once; after the last
    attempt the last result is returned (or its error raised). ``discard`` is
    called on a result that is retried (e.g. to close a streamed response).
    ``deadline`` is a ``clock()`` value no wait may cross.
    """
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            result = call()
        except Exception as exc:
            verdict = judge(exc)
            if verdict is None or attempt >= schedule.attempts:
                raise
            pause = schedule.delay(attempt, verdict.retry_after, rng)
            if not _may_wait(pause, waited, schedule, deadline, clock):
                raise
        else:
            verdict = judge(result)
            if verdict is None or attempt >= schedule.attempts:
                return result
            pause = schedule.delay(attempt, verdict.retry_after, rng)
            if not _may_wait(pause, waited, schedule, deadline, clock):
                return result
            if discard is not None:
                discard(result)
        waited += pause
        sleep(pause)


def _may_wait(
    pause: float,
    waited: float,
    schedule: RetrySchedule,
    deadline: float | None,
    clock: Callable[[], float],
) -> bool:
    if waited + pause > schedule.max_total:
        return False
    return deadline is None or clock() + pause < deadline


def http_client(
    *,
    timeout: float,
    max_connections: int,
    base_url: str = "",
    verify: bool | ssl.SSLContext = True,
    transport: httpx.BaseTransport | None = None,
    headers: dict[str, str] | None = None,
    connect_timeout: float | None = None,
    follow_redirects: bool = False,
) -> httpx.Client:
    """The pooled ``httpx.Client`` every component uses: the configured limits, a keep-alive
    pool of ``max_connections`` and a ``User-Agent``. Redirects are followed only when asked
    (registries: blob storage redirects; httpx drops ``Authorization`` on a redirect to another
    origin)."""
    return httpx.Client(
        base_url=base_url,
        verify=verify,
        timeout=httpx.Timeout(timeout, connect=connect_timeout or timeout),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=follow_redirects,
        transport=transport,
        headers={"User-Agent": "freightliner-policy", **(headers or {})},
    )
