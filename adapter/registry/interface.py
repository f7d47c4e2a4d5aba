"""The values registry operations return: manifests and blob readers.

:class:`adapter.registry.client.RegistryClient` is the one registry client
(no protocol: it has no second implementation). Errors:
:class:`RegistryError` for any failed request, :class:`AuthenticationError`
for missing/rejected credentials, :class:`DigestMismatch` when content does
not hash to its digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from migrate.core.errors import AuthenticationError, DigestMismatch, RegistryError

__all__ = [
    "AuthenticationError",
    "BlobReader",
    "DigestMismatch",
    "Manifest",
    "ManifestInfo",
    "RegistryError",
]


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: the exact ``content`` bytes, its ``media_type`` and ``digest``."""

    content: bytes
    media_type: str
    digest: str


@dataclass(frozen=True)
class ManifestInfo:
    """What a ``HEAD`` says about a manifest."""

    digest: str
    media_type: str
    size: int


class BlobReader(AbstractContextManager["BlobReader"], Protocol):
    """A streamed blob: iterate for chunks; ``size`` from ``Content-Length`` when known."""

    size: int | None

    def __iter__(self) -> Iterator[bytes]: ...
