"""A thread-safe circuit breaker for the OPA sidecar.

States::

    closed ──(failures consecutive failed calls)──▶ open
    open ──(reset seconds elapsed)──▶ half-open: one trial call is let through
    half-open ──trial succeeds──▶ closed;  trial fails ──▶ open (timer restarts)

While open (and while a half-open trial is in flight) :meth:`before_call`
raises :class:`EngineUnavailable` at once, so a dead sidecar costs no
timeouts. A *failure* is a call that ended unavailable after its retries;
an answer from OPA (even a 4xx or an undefined document) is a success.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from migrate.core.errors import EngineUnavailable

__all__ = ["CircuitBreaker", "CircuitState"]

CircuitState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; half-opens after ``reset`` seconds."""

    def __init__(
        self, failures: int = 5, reset: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be >= 1")
        self.failures = failures
        self.reset = reset
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        #: How many times the circuit opened, and how many calls it refused.
        self.opened = 0
        self.rejected = 0

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Let the call through, or raise EngineUnavailable when the circuit refuses it."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half-open" and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            self.rejected += 1
            opened = self._opened_at if self._opened_at is not None else self._clock()
            retry_in = max(self.reset - (self._clock() - opened), 0.0)
        raise EngineUnavailable(
            f"circuit open after {self.failures} consecutive failures "
            f"(next trial in {retry_in:.1f}s)"
        )

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial_in_flight = False

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._trial_in_flight or (
                self._opened_at is None and self._consecutive >= self.failures
            ):
                self._opened_at = self._clock()
                self.opened += 1
            self._trial_in_flight = False
