"""Per-registry health for one run: stop a dead registry's remaining work after its first
clear error.

A *clear* error says the registry as a whole cannot be used, not that one image is bad:

* the connection cannot be made (``httpx.ConnectError`` / ``ConnectTimeout`` under the
  client's :class:`RegistryError`, after the client's own retries), ``failures`` times in a
  row (default 1: the client has already retried);
* the credentials were rejected (``AuthenticationError`` from a 401 or the token service;
  a 403 on one repository is not registry-wide and does not count).

From then on, :meth:`RegistryHealth.check` raises :class:`RegistryDown` for that registry
at once (no request), so a run over 1,000 tags reports a dead registry in one line instead
of 1,000 retry schedules. Any success resets the count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx

from migrate.core.errors import AuthenticationError, FreightlinerError, RegistryError

__all__ = [
    "NOT_ATTEMPTED",
    "RegistryDown",
    "RegistryHealth",
    "clear_cause",
    "current_health",
    "registry_of",
    "run_with_health",
]

T = TypeVar("T")


class RegistryDown(RegistryError):
    """A registry this run stopped using; the message names it, its URL and the cause."""

    def __init__(self, registry: str, url: str, cause: str) -> None:
        super().__init__(f"registry {registry!r} at {url} is unavailable: {cause}")
        self.registry = registry
        self.url = url
        self.cause = cause


def clear_cause(exc: BaseException) -> str | None:
    """Why ``exc`` condemns its whole registry (``None``: it does not)."""
    if isinstance(exc, RegistryDown):
        return exc.cause
    if isinstance(exc, AuthenticationError):
        status = getattr(getattr(exc.__cause__, "response", None), "status_code", None)
        if status == 403:
            return None
        return f"credentials rejected ({exc.message})"
    if isinstance(exc, RegistryError):
        cause = exc.__cause__
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
            return f"cannot connect: {type(cause).__name__}: {cause}"
    return None


class RegistryHealth:
    """Thread-safe; one per run (CLI) or per sweep."""

    def __init__(self, urls: Mapping[str, str], failures: int = 1) -> None:
        if failures < 1:
            raise ValueError("failures must be >= 1")
        self.urls = dict(urls)
        self.failures = failures
        self._lock = threading.Lock()
        self._consecutive: dict[str, int] = {}
        self._down: dict[str, RegistryDown] = {}

    def check(self, registry: str) -> None:
        """Raise :class:`RegistryDown` when ``registry`` was given up in this run."""
        with self._lock:
            down = self._down.get(registry)
        if down is not None:
            raise down

    def success(self, registry: str) -> None:
        with self._lock:
            self._consecutive[registry] = 0

    def failure(self, registry: str, exc: FreightlinerError) -> RegistryDown | None:
        """Record an error from ``registry``; the new :class:`RegistryDown` when this error
        takes the registry down (only the first caller gets it), else ``None``."""
        cause = clear_cause(exc)
        if cause is None or isinstance(exc, RegistryDown):
            return None
        with self._lock:
            if registry in self._down:
                return None
            count = self._consecutive.get(registry, 0) + 1
            self._consecutive[registry] = count
            if count < self.failures:
                return None
            down = RegistryDown(registry, self.urls.get(registry, "?"), cause)
            self._down[registry] = down
            return down

    @property
    def down(self) -> dict[str, RegistryDown]:
        with self._lock:
            return dict(self._down)


#: The start of the error of an action not attempted because its registry is down.
NOT_ATTEMPTED = "not attempted: "
_current: ContextVar[RegistryHealth | None] = ContextVar(
    "freightliner_registry_health", default=None
)


def current_health() -> RegistryHealth | None:
    """The health of the run this thread works for (set by :func:`run_with_health`)."""
    return _current.get()


def run_with_health(health: RegistryHealth | None, func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` with ``health`` as this thread's :func:`current_health`."""
    token = _current.set(health)
    try:
        return func(*args)
    finally:
        _current.reset(token)


def registry_of(exc: FreightlinerError, candidates: Iterable[str]) -> str | None:
    """Which of ``candidates`` an error names (the client's messages start ``registry 'x':``)."""
    for name in candidates:
        if exc.message.startswith(f"registry {name!r}"):
            return name
    return None
