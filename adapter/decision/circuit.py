"""A thread-safe circuit breaker for the OPA sidecar.

States::

    closed ──(``failures`` consecutive failed calls, spanning at least ``window`` s)──▶ open
    open ──(``reset`` seconds elapsed)──▶ half-open: up to ``trials`` trial calls are let through
    half-open ──``trials`` trials succeed──▶ closed;  any trial fails ──▶ open (timer restarts)

The window is what tells an outage from a busy moment: under a burst of load a
few calls in a row can time out within milliseconds, and a success soon after
resets the count; only a run of failures with no success in between that lasts
``window`` seconds opens the circuit (``window=0``: the count alone decides).

While open (and while the half-open trials are taken) :meth:`before_call`
raises :class:`EngineUnavailable` at once, so a dead sidecar costs no
timeouts. Every call let through must end in :meth:`success` or
:meth:`failure` with the ticket :meth:`before_call` returned (callers do this
in ``finally``), so a trial slot can never stay taken. A *failure* is a call
that ended unavailable (transport error, timeout, 5xx, undecodable answer);
an answer from OPA (even a 4xx or an undefined document) is a success.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from migrate.core.errors import EngineUnavailable

__all__ = ["CircuitBreaker", "CircuitState", "Ticket"]

CircuitState = Literal["closed", "open", "half-open"]
#: What :meth:`CircuitBreaker.before_call` hands out: ``True`` for a half-open trial.
Ticket = bool


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures lasting ``window`` s; half-opens after
    ``reset`` s with ``trials`` trial calls."""

    def __init__(
        self,
        failures: int = 5,
        reset: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        window: float = 0.0,
        trials: int = 1,
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be >= 1")
        if trials < 1:
            raise ValueError("trials must be >= 1")
        if window < 0 or reset < 0:
            raise ValueError("window and reset must be >= 0")
        self.failures = failures
        self.reset = reset
        self.window = window
        self.trials = trials
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._streak_started: float | None = None
        self._opened_at: float | None = None
        self._trials_in_flight = 0
        self._trial_successes = 0
        #: How many times the circuit opened, and how many calls it refused.
        self.opened = 0
        self.rejected = 0

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    @property
    def trials_in_flight(self) -> int:
        with self._lock:
            return self._trials_in_flight

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset:
            return "half-open"
        return "open"

    def before_call(self) -> Ticket:
        """Let the call through (its ticket: True for a trial), or raise EngineUnavailable."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return False
            if (
                state == "half-open"
                and self._trials_in_flight + self._trial_successes < self.trials
            ):
                self._trials_in_flight += 1
                return True
            self.rejected += 1
            opened = self._opened_at if self._opened_at is not None else self._clock()
            retry_in = max(self.reset - (self._clock() - opened), 0.0)
        raise EngineUnavailable(
            f"circuit open after {self.failures} consecutive failures "
            f"(next trial in {retry_in:.1f}s)"
        )

    def success(self, ticket: Ticket = False) -> None:
        with self._lock:
            self._consecutive = 0
            self._streak_started = None
            if not ticket:
                return
            self._trials_in_flight = max(self._trials_in_flight - 1, 0)
            if self._opened_at is None:
                return
            self._trial_successes += 1
            if self._trial_successes >= self.trials:
                self._opened_at = None
                self._trial_successes = 0

    def failure(self, ticket: Ticket = False) -> None:
        with self._lock:
            now = self._clock()
            if ticket:
                self._trials_in_flight = max(self._trials_in_flight - 1, 0)
                if self._opened_at is not None:  # a failed trial: open again, timer restarts
                    self._open(now)
                return
            self._consecutive += 1
            if self._streak_started is None:
                self._streak_started = now
            if (
                self._opened_at is None
                and self._consecutive >= self.failures
                and now - self._streak_started >= self.window
            ):
                self._open(now)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._trial_successes = 0
        self.opened += 1
