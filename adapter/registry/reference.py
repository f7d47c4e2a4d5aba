"""References and request paths built only from validated names.

The grammar itself (:mod:`migrate.core.reference`, shared with ``policy validate``)
is re-exported here; this module adds what the adapter builds from it:

* :func:`parse_reference`: ``registry[/repository[:tag|@digest]]`` from the
  CLI or the API, every part checked (:class:`InvalidName` otherwise);
* :func:`api_path`: ``/v2/<repository>/<kind>[/<reference>]`` from checked
  parts only, so no HTTP library normalisation (``..`` collapsing, a cut at
  ``?`` or ``#``) can change which repository or tag a request touches.
"""

from __future__ import annotations

import re
from typing import Literal

from migrate.core.reference import (
    InvalidName,
    check_digest,
    check_reference,
    check_repository,
    check_tag,
    is_digest,
    shown,
)

__all__ = [
    "InvalidName",
    "api_path",
    "check_digest",
    "check_reference",
    "check_repository",
    "check_tag",
    "is_digest",
    "parse_docker_reference",
    "parse_reference",
    "shown",
]

#: The scheme of a reference to an image in a local Docker engine (``docker://IMAGE[:TAG]``).
DOCKER_SCHEME = "docker://"
_MAX_DOCKER_REFERENCE = len(DOCKER_SCHEME) + 255 + 1 + 128
_REGISTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
Kind = Literal["manifests", "blobs", "tags/list", "blobs/uploads/"]


def parse_reference(text: str) -> tuple[str, str | None, str | None]:
    """``(registry, repository, tag-or-digest)`` of ``registry[/repository[:tag|@digest]]``.

    ``registry`` is a configured registry name; the rest follows the grammar.
    """
    if not isinstance(text, str) or not text:
        raise InvalidName("empty image reference: expected registry[/repository[:tag]]")
    registry, slash, rest = text.partition("/")
    if not _REGISTRY_NAME.fullmatch(registry):
        raise InvalidName(
            f"invalid image reference {shown(text)}: registry name {shown(registry)} is not "
            "a configured-name form ([A-Za-z0-9][A-Za-z0-9._-]*)"
        )
    if not slash:
        return registry, None, None
    try:
        if "@" in rest:
            repository, _, digest = rest.partition("@")
            return registry, check_repository(repository), check_digest(digest)
        repository, colon, tag = rest.rpartition(":")
        if not colon:
            return registry, check_repository(rest), None
        return registry, check_repository(repository), check_tag(tag)
    except InvalidName as exc:
        raise InvalidName(f"invalid image reference {shown(text)}: {exc}") from exc


def parse_docker_reference(text: str) -> tuple[str, str]:
    """``(repository, tag)`` of ``docker://REPOSITORY[:TAG]`` (tag ``latest`` when absent).

    Strict, because the text comes from a user or a CI variable: the scheme is
    exactly ``docker://`` (lower case), ``REPOSITORY`` follows the repository
    grammar (lower-case path components, no ``host:port``, no ``..``, no
    whitespace or control characters) and ``TAG`` the tag grammar. A digest
    (``@sha256:...``), an engine image ID and anything else are refused with
    :class:`InvalidName`; nothing is normalised (no ``docker.io/library/``
    is added: the engine resolves the name as its own ``docker image inspect``
    does).
    """
    if not isinstance(text, str) or not text.startswith(DOCKER_SCHEME):
        raise InvalidName(f"not a docker:// reference: {shown(str(text))}")
    if len(text) > _MAX_DOCKER_REFERENCE:
        raise InvalidName(
            f"invalid image reference {shown(text)}: {len(text)} characters "
            f"(at most {_MAX_DOCKER_REFERENCE})"
        )
    rest = text[len(DOCKER_SCHEME) :]
    if not rest:
        raise InvalidName(
            f"invalid image reference {shown(text)}: expected docker://REPOSITORY[:TAG]"
        )
    if "@" in rest:
        raise InvalidName(
            f"invalid image reference {shown(text)}: name a tag (docker://REPOSITORY:TAG); "
            "digest references are not supported for the Docker engine"
        )
    repository, colon, tag = rest.rpartition(":")
    if not colon:
        repository, tag = rest, "latest"
    try:
        if "/" in tag:  # "host:5000/app": a port, not a tag
            raise InvalidName(
                f"{shown(rest)} names a registry host with a port; give the repository as "
                "the engine lists it without host:port (docker image tag it first)"
            )
        return check_repository(repository), check_tag(tag)
    except InvalidName as exc:
        raise InvalidName(f"invalid image reference {shown(text)}: {exc}") from exc


def api_path(repository: str, kind: Kind, reference: str | None = None) -> str:
    """The distribution API path of ``repository`` (checked) and ``reference`` (a tag or
    digest, checked); :class:`InvalidName` otherwise."""
    check_repository(repository)
    if reference is None:
        return f"/v2/{repository}/{kind}"
    if kind == "blobs":
        check_digest(reference)
    else:
        check_reference(reference)
    return f"/v2/{repository}/{kind}/{reference}"
