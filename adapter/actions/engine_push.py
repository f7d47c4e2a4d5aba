"""Replicate an image from the local Docker engine to a registry: the engine pushes, we verify.

Why the engine pushes (and not an export plus our own copy code): the engine
already holds the layers and makes the manifest at push time (its own
compression, so no manifest digest exists before the push); ``docker save``
would stream the whole image uncompressed through this process and we would
have to rebuild, compress and upload every layer ourselves. What the policy
decided is the engine's **image ID** (:mod:`adapter.metadata.docker_source`),
so the promise "what was decided is what lands" is checked at the target
after the push, independently of the engine:

1. the target tag is read first: if it already holds the decided image
   (its config digest, or its manifest digest for a containerd-store ID, is
   the decided ID), nothing is pushed (``skipped``); ``skip_existing``
   skips any existing target tag, as for registry sources;
2. the decided **image ID** (not the source name, which may have moved: a
   ``warning`` says so) is tagged ``<target host>/<repository>:<tag>`` in the
   engine; if the engine already has that name for another image, the action
   fails and nothing is pushed or re-tagged;
3. the engine pushes that name with the target's credentials (resolved from
   the ``registries:`` entry exactly as for our own client) as
   ``auth_config`` (``X-Registry-Auth``), for that push only (nothing is
   stored in the engine); anonymous targets get an explicit empty
   ``auth_config`` so the SDK never reads ``~/.docker/config.json`` on its own;
4. the temporary tag is removed again (only if this push created it);
5. the manifest now at the target tag is read with our registry client: its
   config digest (or its own digest) must equal the decided ID, else the
   action fails (exit 7) naming both digests.

The engine reaches the target at the ``host[:port]`` of its configured URL;
a plain-http target must be listed as insecure in the engine's own
configuration (Docker: ``insecure-registries``; podman: ``registries.conf``).
The engine writes the tag itself, so a mismatch in step 5 is detected and
reported, not prevented. ``bytes_copied`` is the size of the pushed image
(config plus layers as the target's manifest lists them); the engine does
not say which blobs the target already had.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from adapter.actions.interface import ActionResult
from adapter.registry.client import RegistryClient
from adapter.registry.manifest import parse_manifest
from adapter.registry.reference import is_digest, shown
from migrate.contract.decision import DecisionAction
from migrate.contract.image import ImageMetadata
from migrate.core.errors import ActionError, FreightlinerError

__all__ = ["EngineImages", "EnginePusher"]

_log = logging.getLogger("freightliner.actions")


class EngineImages(Protocol):
    """What the pusher needs of the engine source (:class:`DockerMetadataSource`)."""

    registry: str

    @property
    def client(self) -> Any: ...

    def image_id(self, repository: str, tag: str) -> str | None: ...


class EnginePusher:
    """Pushes decided engine images to configured registries (see the module docstring)."""

    def __init__(self, engine: EngineImages) -> None:
        self.engine = engine
        self.registry = engine.registry

    def push(
        self,
        image: ImageMetadata,
        action: DecisionAction,
        target_client: RegistryClient,
        repository: str,
        tag: str,
        skip_existing: bool,
    ) -> ActionResult:
        """One replicate action for ``image`` (an engine image) to ``repository:tag``."""
        target = f"{action.target_registry}/{repository}:{tag}"
        decided = image.digest
        if not is_digest(decided):
            raise ActionError(
                f"{image.reference}: the decision carries no image ID to push "
                f"({shown(decided)}); nothing pushed"
            )
        existing = target_client.head_manifest(repository, tag)
        if existing is not None:
            if skip_existing:
                return ActionResult(
                    action,
                    "skipped",
                    target,
                    detail=f"target exists as {existing.digest} (skip_existing)",
                    target_digest=existing.digest,
                )
            if decided in self._verify(target_client, repository, tag)[:2]:
                return ActionResult(
                    action,
                    "skipped",
                    target,
                    detail=f"target already has {existing.digest}",
                    target_digest=existing.digest,
                )
        moved = self._moved(image, decided)
        self._engine_push(decided, target_client, repository, tag)
        landed, manifest_digest, size = self._verify(target_client, repository, tag)
        if decided not in (landed, manifest_digest):
            raise ActionError(
                f"integrity check failed at {target}: it holds image {landed} "
                f"(manifest {manifest_digest}), not the decided {decided}"
            )
        _log.info("pushed %s to %s (%s)", image.reference, target, manifest_digest)
        return ActionResult(
            action,
            "replicated",
            target,
            detail=manifest_digest,
            bytes_copied=size,
            target_digest=manifest_digest,
            warning=moved,
        )

    def _moved(self, image: ImageMetadata, decided: str) -> str:
        now = self.engine.image_id(image.repository, image.tag)
        if now == decided:
            return ""
        return (
            f"source tag moved since the decision: decided {decided}, now "
            f"{now or '(deleted)'}; pushed {decided}"
        )

    def _engine_push(
        self, decided: str, target_client: RegistryClient, repository: str, tag: str
    ) -> None:
        import docker.errors

        host = target_client.config.host
        if not re.fullmatch(r"[a-z0-9.-]+(:[0-9]+)?|\[[0-9a-f:.]+\](:[0-9]+)?", host):
            raise ActionError(
                f"registry {target_client.name!r}: host {shown(host)} cannot name an image "
                "in the docker engine (expected host[:port]); nothing pushed"
            )
        name = f"{host}/{repository}"
        client = self.engine.client
        present = self.engine.image_id(name, tag)
        if present is not None and present != decided:
            raise ActionError(
                f"the docker engine already has {name}:{tag} for another image ({present}); "
                "nothing pushed"
            )
        try:
            if present is None:
                client.api.tag(decided, name, tag)
            try:
                for event in client.api.push(
                    name, tag=tag, auth_config=_auth_config(target_client), stream=True, decode=True
                ):
                    error = isinstance(event, dict) and (
                        event.get("error") or (event.get("errorDetail") or {}).get("message")
                    )
                    if error:
                        raise ActionError(f"docker engine push of {name}:{tag} failed: {error}")
            finally:
                if present is None:
                    client.api.remove_image(f"{name}:{tag}", noprune=True)
        except docker.errors.DockerException as exc:
            raise ActionError(f"docker engine push of {name}:{tag} failed: {exc}") from exc

    @staticmethod
    def _verify(client: RegistryClient, repository: str, tag: str) -> tuple[str, str, int]:
        """``(image identity, manifest digest, size)`` of what ``repository:tag`` holds:
        the config digest of an image manifest, the digest itself for an index."""
        try:
            manifest = client.get_manifest(repository, tag)
            parsed = parse_manifest(manifest.content, manifest.media_type)
        except FreightlinerError as exc:
            raise ActionError(
                f"cannot verify {client.name}/{repository}:{tag} after the push: {exc.message}"
            ) from exc
        if parsed.is_index or parsed.config is None:
            return manifest.digest, manifest.digest, 0
        return parsed.config.digest, manifest.digest, parsed.image_size


def _auth_config(client: RegistryClient) -> dict[str, str]:
    """The target's credentials for the engine's ``X-Registry-Auth`` (only for this push)."""
    credentials = client.config.credentials()
    if credentials is None:
        return {}
    auth = {"serveraddress": client.config.host}
    if credentials.token:
        auth["registrytoken"] = credentials.token
    else:
        auth["username"] = credentials.username
        auth["password"] = credentials.password
    return auth
