"""Where image metadata comes from: the :class:`MetadataSource` protocol and its errors."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from migrate.contract.image import ImageMetadata
from migrate.core.errors import ConfigError, RegistryError

__all__ = ["ConfigError", "MetadataSource", "RegistryError"]


@runtime_checkable
class MetadataSource(Protocol):
    """Gives the :class:`ImageMetadata` of ``registry/repository:tag``.

    One entry for a single-platform image, one per platform for an index /
    manifest list (each with ``index_digest`` set). Implementations raise
    :class:`RegistryError` (or a subclass) when the image cannot be read and
    :class:`ConfigError` for an unknown registry name.
    """

    def get_metadata(self, registry: str, repository: str, tag: str) -> list[ImageMetadata]: ...
