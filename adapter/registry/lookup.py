"""The one registry lookup: a configured registry (or its client) by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from migrate.core.errors import UnknownRegistry

__all__ = ["registry_named"]

T = TypeVar("T")


def registry_named(registries: Mapping[str, T], name: str) -> T:
    """``registries[name]``; :class:`UnknownRegistry` naming the configured ones otherwise."""
    try:
        return registries[name]
    except KeyError as exc:
        known = ", ".join(sorted(registries)) or "none"
        raise UnknownRegistry(f"unknown registry {name!r} (configured: {known})") from exc
