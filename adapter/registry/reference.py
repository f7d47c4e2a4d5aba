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
    "parse_reference",
    "shown",
]

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
