"""ImageMetadata from a local Docker daemon (``docker image inspect`` via the ``docker`` SDK).

Only :func:`metadata_from_inspect` is tested (on a recorded inspect document):
the test machines have no Docker engine, so :class:`DockerMetadataSource`'s
daemon round-trip is not exercised by the test suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrate.contract.image import ImageMetadata
from migrate.core.errors import RegistryError

__all__ = ["DockerMetadataSource", "metadata_from_inspect"]


def _repo_digest(inspect: Mapping[str, Any], repository: str) -> str:
    """The manifest digest from ``RepoDigests`` (``repo@sha256:...``), preferring ``repository``."""
    digests = [str(d) for d in inspect.get("RepoDigests") or []]
    for entry in digests:
        name, _, digest = entry.partition("@")
        if name == repository or name.endswith("/" + repository):
            return digest
    return digests[0].partition("@")[2] if digests else ""


def metadata_from_inspect(
    inspect: Mapping[str, Any], *, registry: str, repository: str, tag: str
) -> ImageMetadata:
    """Map an image-inspect document to ImageMetadata.

    ``digest`` is the manifest digest from ``RepoDigests`` ("" for an image
    never pushed or pulled: the image ``Id`` is a config digest, not a
    manifest digest); ``media_type`` from ``Descriptor.mediaType`` when the
    daemon reports it (containerd image store); ``size`` is ``Size``.
    """
    config = inspect.get("Config") or {}
    descriptor = inspect.get("Descriptor") or {}
    return ImageMetadata(
        registry=registry,
        repository=repository,
        tag=tag,
        digest=_repo_digest(inspect, repository),
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (descriptor.get("annotations") or {}).items()},
        size=int(inspect.get("Size") or 0),
        created_at=str(inspect.get("Created") or ""),
        architecture=str(inspect.get("Architecture") or ""),
        os=str(inspect.get("Os") or ""),
        variant=str(inspect.get("Variant") or ""),
        media_type=str(descriptor.get("mediaType") or ""),
    )


class DockerMetadataSource:
    """A :class:`MetadataSource` over the local daemon; ``registry`` names it (e.g. ``local``).

    ``client`` is a ``docker.DockerClient``; by default ``docker.from_env()``
    on first use.
    """

    def __init__(self, registry: str = "local", client: Any = None) -> None:
        self.registry = registry
        self._client = client

    def get_metadata(self, registry: str, repository: str, tag: str) -> list[ImageMetadata]:
        import docker  # optional at import time: only this source needs a daemon
        import docker.errors

        if registry != self.registry:
            raise RegistryError(
                f"the Docker daemon source serves {self.registry!r}, not {registry!r}"
            )
        try:
            if self._client is None:
                self._client = docker.from_env()
            image = self._client.images.get(f"{repository}:{tag}")
        except docker.errors.ImageNotFound as exc:
            raise RegistryError(f"docker daemon: no image {repository}:{tag}") from exc
        except docker.errors.DockerException as exc:
            raise RegistryError(f"docker daemon: {exc}") from exc
        return [
            metadata_from_inspect(image.attrs, registry=registry, repository=repository, tag=tag)
        ]
