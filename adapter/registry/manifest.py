"""Manifest media types and a small typed view of image manifests and indexes.

Manifests are kept as the exact bytes the registry served (digests are
computed over those bytes); this module only *reads* them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from migrate.core.errors import RegistryError

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_ACCEPT",
    "MANIFEST_MEDIA_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "Descriptor",
    "ParsedManifest",
    "detect_media_type",
    "parse_manifest",
]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

INDEX_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
MANIFEST_MEDIA_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST}) | INDEX_MEDIA_TYPES
#: The ``Accept`` header of every manifest request.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST])


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about a blob or a child manifest."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: Any, where: str) -> Descriptor:
        if not isinstance(value, dict):
            raise RegistryError(f"{where}: descriptor is not an object")
        digest, size = value.get("digest"), value.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool):
            raise RegistryError(f"{where}: descriptor needs a string digest and an integer size")
        platform = value.get("platform")
        return cls(
            media_type=str(value.get("mediaType", "")),
            digest=digest,
            size=size,
            platform=platform if isinstance(platform, dict) else None,
            annotations=_str_map(value.get("annotations")),
            urls=tuple(str(u) for u in value.get("urls") or ()),
        )

    @property
    def is_foreign(self) -> bool:
        """A non-distributable layer that lives at ``urls``; registries do not store those."""
        return bool(self.urls) and (
            "foreign" in self.media_type or "nondistributable" in self.media_type
        )


@dataclass(frozen=True)
class ParsedManifest:
    """An image manifest (``config`` + ``layers``) or an index (``manifests``)."""

    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    def blobs(self) -> list[Descriptor]:
        """Config then layers, in manifest order (empty for an index)."""
        return ([self.config] if self.config is not None else []) + list(self.layers)

    @property
    def image_size(self) -> int:
        """Config size plus the sum of the layer sizes."""
        return sum(d.size for d in self.blobs())


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def detect_media_type(document: dict[str, Any], announced: str) -> str:
    """The manifest's media type: the announced Content-Type if it is one we know, else sniffed."""
    base = announced.split(";", 1)[0].strip()
    if base in MANIFEST_MEDIA_TYPES:
        return base
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared in MANIFEST_MEDIA_TYPES:
        return declared
    if "manifests" in document:
        return OCI_INDEX
    if "layers" in document:
        return OCI_MANIFEST
    raise RegistryError(f"unsupported manifest media type {base or declared!r}")


def parse_manifest(content: bytes, media_type: str = "") -> ParsedManifest:
    """Parse manifest bytes; :class:`RegistryError` unless a v2/OCI manifest or index."""
    try:
        document = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise RegistryError("manifest is not a JSON object")
    kind = detect_media_type(document, media_type)
    annotations = _str_map(document.get("annotations"))
    if kind in INDEX_MEDIA_TYPES:
        children = document.get("manifests") or []
        if not isinstance(children, list):
            raise RegistryError("index: 'manifests' is not a list")
        manifests = tuple(
            Descriptor.from_json(c, f"manifests[{i}]") for i, c in enumerate(children)
        )
        return ParsedManifest(kind, None, (), manifests, annotations)
    if "config" not in document:
        raise RegistryError("image manifest has no 'config' descriptor")
    layers = document.get("layers") or []
    if not isinstance(layers, list):
        raise RegistryError("manifest: 'layers' is not a list")
    return ParsedManifest(
        kind,
        Descriptor.from_json(document["config"], "config"),
        tuple(Descriptor.from_json(d, f"layers[{i}]") for i, d in enumerate(layers)),
        (),
        annotations,
    )
