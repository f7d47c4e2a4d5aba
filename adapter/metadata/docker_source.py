"""ImageMetadata from a local Docker engine (``docker image inspect`` through the ``docker`` SDK).

The engine is found as the Docker CLI finds it: ``DOCKER_HOST`` (``unix://``,
``tcp://``; ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH`` for TLS), else the
default socket. Anything that speaks the Docker Engine API works (Docker,
``podman system service``); the tests run against podman.

Identity: ``digest`` is the engine's **image ID** (``Id``, the sha256 of the
image config for the classic store and podman). An image that was never
pushed has no manifest digest (the manifest is made at push time, with the
engine's compression), so the image ID is the only identity that can be
decided; :mod:`adapter.actions.engine_push` checks at the target that what
landed has this ID. Every field the engine answers is treated as untrusted:
an ID that is not ``sha256:<64 hex>``, a negative or huge size, or non-text
labels make the read fail with :class:`RegistryError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from adapter.registry.reference import is_digest, shown
from migrate.contract.image import ImageMetadata
from migrate.core.errors import RegistryError

__all__ = ["DockerMetadataSource", "engine_address", "metadata_from_inspect"]

_TIMEOUT = 60


def engine_address() -> str:
    """Where the engine is looked for, for messages: ``$DOCKER_HOST`` or the default socket."""
    default = "unix:///var/run/docker.sock (default; DOCKER_HOST unset)"
    return os.environ.get("DOCKER_HOST") or default


def _text_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RegistryError(f"docker engine: {what} is not a map of strings")
    return dict(value)


def metadata_from_inspect(
    inspect: Mapping[str, Any], *, registry: str, repository: str, tag: str
) -> ImageMetadata:
    """Map an image-inspect document to ImageMetadata (see the module docstring).

    ``digest`` is the image ``Id``; ``media_type`` and ``annotations`` from
    ``Descriptor`` when the engine reports it (containerd image store);
    ``size`` is ``Size``; ``created_at`` is ``Created``.
    """
    image_id = inspect.get("Id")
    if not is_digest(image_id):
        raise RegistryError(
            f"docker engine: image {repository}:{tag} has no sha256 image ID "
            f"(got {shown(str(image_id))})"
        )
    config = inspect.get("Config")
    config = {} if config is None else config
    descriptor = inspect.get("Descriptor")
    descriptor = {} if descriptor is None else descriptor
    if not isinstance(config, dict) or not isinstance(descriptor, dict):
        raise RegistryError(f"docker engine: malformed inspect document for {repository}:{tag}")
    size = inspect.get("Size") or 0
    if not isinstance(size, int) or isinstance(size, bool):
        raise RegistryError(f"docker engine: image size {shown(str(size))} is not an integer")
    try:
        return ImageMetadata(
            registry=registry,
            repository=repository,
            tag=tag,
            digest=str(image_id),
            labels=_text_map(config.get("Labels"), "Config.Labels"),
            annotations=_text_map(descriptor.get("annotations"), "Descriptor.annotations"),
            size=size,
            created_at=str(inspect.get("Created") or ""),
            architecture=str(inspect.get("Architecture") or ""),
            os=str(inspect.get("Os") or ""),
            variant=str(inspect.get("Variant") or ""),
            media_type=str(descriptor.get("mediaType") or ""),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RegistryError(
            f"docker engine: image {repository}:{tag}: {where}: {first['msg']}"
        ) from exc


class DockerMetadataSource:
    """A :class:`MetadataSource` over the local engine; ``registry`` names it (``docker``).

    ``client`` is a ``docker.DockerClient``; by default ``docker.from_env()``
    (``DOCKER_HOST`` honoured) on first use. :attr:`client` is shared with
    :class:`adapter.actions.engine_push.EnginePusher`.
    """

    def __init__(self, registry: str = "docker", client: Any = None) -> None:
        self.registry = registry
        self._client = client

    @property
    def client(self) -> Any:
        """The SDK client, connected on first use; :class:`RegistryError` (exit 6) when the
        engine cannot be reached."""
        import docker  # optional at import time: only this source needs an engine
        import docker.errors

        if self._client is None:
            try:
                client = docker.from_env(timeout=_TIMEOUT)
                client.ping()
            except docker.errors.DockerException as exc:
                raise RegistryError(
                    f"docker engine at {engine_address()} is not reachable: {exc}; "
                    "start the engine or set DOCKER_HOST"
                ) from exc
            self._client = client
        return self._client

    def image_id(self, repository: str, tag: str) -> str | None:
        """The ID ``repository:tag`` has in the engine now, ``None`` when it has no such tag."""
        import docker.errors

        try:
            return str(self.client.images.get(f"{repository}:{tag}").id)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.DockerException as exc:
            raise RegistryError(f"docker engine at {engine_address()}: {exc}") from exc

    def get_metadata(self, registry: str, repository: str, tag: str) -> list[ImageMetadata]:
        import docker.errors

        if registry != self.registry:
            raise RegistryError(
                f"the Docker engine source serves {self.registry!r}, not {registry!r}"
            )
        client = self.client
        try:
            image = client.images.get(f"{repository}:{tag}")
        except docker.errors.ImageNotFound as exc:
            raise RegistryError(
                f"docker engine at {engine_address()}: no image {repository}:{tag}"
            ) from exc
        except docker.errors.DockerException as exc:
            raise RegistryError(f"docker engine at {engine_address()}: {exc}") from exc
        return [
            metadata_from_inspect(image.attrs, registry=registry, repository=repository, tag=tag)
        ]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
