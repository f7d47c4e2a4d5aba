"""ImageMetadata read from a registry: manifest (or index) plus each image config blob."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from adapter.registry.client import RegistryClient
from adapter.registry.lookup import registry_named
from adapter.registry.manifest import Descriptor, ParsedManifest, parse_manifest
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ImageNotFound, RegistryError

__all__ = ["RegistryMetadataSource", "metadata_from_config"]

_ATTESTATION = "attestation-manifest"


def metadata_from_config(
    manifest: ParsedManifest,
    config: Mapping[str, Any],
    *,
    registry: str,
    repository: str,
    tag: str,
    digest: str,
    index_digest: str = "",
    platform: Mapping[str, Any] | None = None,
) -> ImageMetadata:
    """Map an image manifest and its config blob to ImageMetadata.

    Labels from ``config.Labels``; created/architecture/os/variant from the
    config (the index platform fills gaps); annotations from the manifest;
    size = config size + layer sizes.
    """
    inner = config.get("config") or {}
    labels = inner.get("Labels") if isinstance(inner, Mapping) else None
    platform = platform or {}

    def text(key: str) -> str:
        value = config.get(key) or platform.get(key) or ""
        return str(value)

    return ImageMetadata(
        registry=registry,
        repository=repository,
        tag=tag,
        digest=digest,
        labels={str(k): str(v) for k, v in (labels or {}).items()},
        annotations=dict(manifest.annotations),
        size=manifest.image_size,
        created_at=str(config.get("created") or ""),
        architecture=text("architecture"),
        os=text("os"),
        variant=text("variant"),
        media_type=manifest.media_type,
        index_digest=index_digest,
    )


class RegistryMetadataSource:
    """A :class:`MetadataSource` over configured registries.

    ``clients`` maps registry *names* to clients. Parsed results are kept in a
    bounded LRU cache keyed by manifest digest (``cache_size`` entries), so a
    tag that still points at the same digest costs one ``HEAD``.

    For an index, one ImageMetadata per platform manifest (``digest`` the
    platform manifest's, ``index_digest`` the index's); buildx attestation
    entries (``vnd.docker.reference.type: attestation-manifest``) and nested
    indexes are skipped.
    """

    def __init__(self, clients: Mapping[str, RegistryClient], cache_size: int = 256) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._clients = dict(clients)
        self._cache: OrderedDict[str, list[ImageMetadata]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def client(self, registry: str) -> RegistryClient:
        return registry_named(self._clients, registry)

    def get_metadata(self, registry: str, repository: str, tag: str) -> list[ImageMetadata]:
        client = self.client(registry)
        info = client.head_manifest(repository, tag)
        if info is None:
            raise ImageNotFound(f"registry {registry!r}: {repository}:{tag} not found")
        cached = self._cached(info.digest)
        if cached is None:
            digest, cached = self._read(client, registry, repository, tag, info.digest)
            self._store(digest, cached)
        return [
            m.model_copy(update={"registry": registry, "repository": repository, "tag": tag})
            for m in cached
        ]

    # -- cache ----------------------------------------------------------
    def _cached(self, digest: str) -> list[ImageMetadata] | None:
        with self._lock:
            found = self._cache.get(digest)
            if found is None:
                self.misses += 1
                return None
            self._cache.move_to_end(digest)
            self.hits += 1
            return found

    def _store(self, digest: str, value: list[ImageMetadata]) -> None:
        if self._cache_size == 0:
            return
        with self._lock:
            self._cache[digest] = value
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # -- reading ----------------------------------------------------------
    def _read(
        self, client: RegistryClient, registry: str, repository: str, tag: str, digest: str
    ) -> tuple[str, list[ImageMetadata]]:
        """(manifest digest, metadata) of the manifest ``tag`` pointed at when it was
        resolved (``digest``): read by that digest, so the bytes decided are the bytes that
        hash to it, even if the tag moves meanwhile."""
        manifest = client.get_manifest(repository, digest)
        parsed = parse_manifest(manifest.content, manifest.media_type)
        if not parsed.is_index:
            config = self._config(client, repository, parsed)
            return manifest.digest, [
                metadata_from_config(
                    parsed,
                    config,
                    registry=registry,
                    repository=repository,
                    tag=tag,
                    digest=manifest.digest,
                )
            ]
        images = []
        for child in parsed.manifests:
            if _skipped(child):
                continue
            child_manifest = client.get_manifest(repository, child.digest)
            child_parsed = parse_manifest(child_manifest.content, child_manifest.media_type)
            if child_parsed.is_index:
                continue
            config = self._config(client, repository, child_parsed)
            images.append(
                metadata_from_config(
                    child_parsed,
                    config,
                    registry=registry,
                    repository=repository,
                    tag=tag,
                    digest=child.digest,
                    index_digest=manifest.digest,
                    platform=child.platform,
                )
            )
        return manifest.digest, images

    @staticmethod
    def _config(
        client: RegistryClient, repository: str, manifest: ParsedManifest
    ) -> dict[str, Any]:
        if manifest.config is None:
            raise RegistryError(f"{repository}: the image manifest has no config")
        raw = client.get_blob(repository, manifest.config.digest, max_size=16 << 20)
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise RegistryError(
                f"config {manifest.config.digest} of {repository} is not JSON"
            ) from exc
        return document if isinstance(document, dict) else {}


def _skipped(child: Descriptor) -> bool:
    if child.annotations.get("vnd.docker.reference.type") == _ATTESTATION:
        return True
    platform = child.platform or {}
    return platform.get("architecture") == "unknown" and platform.get("os") == "unknown"
