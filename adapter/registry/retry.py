"""Classifying registry errors for the retry helper (:mod:`adapter.registry.http`).

The client raises its errors ``from`` the underlying :class:`httpx.TransportError`
or :class:`httpx.HTTPStatusError`; :func:`registry_verdict` looks at that cause
so a whole operation (a blob upload, a copy) can be repeated by
:func:`adapter.registry.http.with_retries`, honouring the ``Retry-After`` the
registry sent with a 429/503.
"""

from __future__ import annotations

import httpx

from adapter.registry.http import RETRYABLE_STATUSES, Retry
from migrate.core.errors import RegistryError

__all__ = ["is_transient", "registry_verdict"]


def registry_verdict(outcome: object) -> Retry | None:
    """Retry a :class:`RegistryError` caused by a connection problem or a retryable status
    (with that response's ``Retry-After``); anything else (including a result) is final."""
    if not isinstance(outcome, RegistryError):
        return None
    cause = outcome.__cause__
    if isinstance(cause, httpx.TransportError):
        return Retry()
    if isinstance(cause, httpx.HTTPStatusError) and (
        cause.response.status_code in RETRYABLE_STATUSES
    ):
        return Retry(cause.response.headers.get("Retry-After"))
    return None


def is_transient(error: BaseException) -> bool:
    """True for a :class:`RegistryError` that :func:`registry_verdict` would retry."""
    return registry_verdict(error) is not None
