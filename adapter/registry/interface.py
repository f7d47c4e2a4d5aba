"""What the rest of the adapter needs from a registry: the :class:`Registry` protocol.

:class:`adapter.registry.client.RegistryClient` implements it. Errors:
:class:`RegistryError` for any failed request, :class:`AuthenticationError`
for missing/rejected credentials, :class:`DigestMismatch` when content does
not hash to its digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from migrate.core.errors import AuthenticationError, DigestMismatch, RegistryError

__all__ = [
    "AuthenticationError",
    "BlobReader",
    "DigestMismatch",
    "Manifest",
    "ManifestInfo",
    "Registry",
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


@runtime_checkable
class Registry(Protocol):
    """The distribution-API operations the adapter uses."""

    name: str
    base_url: str

    def ping(self) -> None: ...

    def catalog(self, page_size: int | None = None) -> Iterator[str]: ...

    def tags(self, repository: str, page_size: int | None = None) -> Iterator[str]: ...

    def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None: ...

    def get_manifest(self, repository: str, reference: str) -> Manifest: ...

    def put_manifest(
        self, repository: str, reference: str, content: bytes, media_type: str
    ) -> str: ...

    def blob_exists(self, repository: str, digest: str) -> bool: ...

    def open_blob(self, repository: str, digest: str, chunk_size: int = ...) -> BlobReader: ...

    def get_blob(self, repository: str, digest: str, max_size: int = ...) -> bytes: ...

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool: ...

    def upload_blob(
        self,
        repository: str,
        digest: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        chunk_size: int | None = None,
    ) -> int: ...

    def close(self) -> None: ...
