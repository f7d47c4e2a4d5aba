"""The one grammar of image names: repositories, tags and digests (OCI distribution spec).

* repository: path components ``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*`` joined by
  ``/``, at most :data:`MAX_REPOSITORY_LENGTH` characters in all;
* tag: ``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``;
* digest: ``algorithm:hex`` with the hex length of its algorithm (sha256: 64,
  sha512: 128; lower-case hex).

Nothing these accept can be changed by URL normalisation: no component is
``.`` or ``..``, none holds ``/``, ``?``, ``#``, ``%``, whitespace or a control
character. Every name the adapter puts into a request path (from the CLI, the
API, a registry's answer or a rendered policy target) passes through here
first. This module sits in the translator (below the adapter) so that
``policy validate`` can judge target templates with the same grammar.
"""

from __future__ import annotations

import re

__all__ = [
    "DIGEST_HEX_LENGTHS",
    "MAX_REPOSITORY_LENGTH",
    "MAX_TAG_LENGTH",
    "InvalidName",
    "check_digest",
    "check_reference",
    "check_repository",
    "check_tag",
    "is_digest",
    "judge_template",
    "shown",
]

MAX_REPOSITORY_LENGTH = 255
MAX_TAG_LENGTH = 128
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"([a-z0-9]+):([0-9a-f]+)")
#: What a template variable stands for when a template is judged before rendering.
_SAMPLE = "a"


class InvalidName(ValueError):
    """A repository, tag or digest outside the grammar; the message says which rule failed."""


def shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for a message: control characters escaped, long values cut."""
    cut = value if len(value) <= limit else value[:limit] + "…"
    return repr(cut)


def check_repository(name: object, what: str = "repository") -> str:
    """``name`` when it is a valid repository name, else :class:`InvalidName`."""
    if not isinstance(name, str):
        raise InvalidName(f"{what} name must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidName(f"{what} name is empty")
    if len(name) > MAX_REPOSITORY_LENGTH:
        raise InvalidName(
            f"{what} name {shown(name)} is {len(name)} characters long "
            f"(at most {MAX_REPOSITORY_LENGTH})"
        )
    for index, component in enumerate(name.split("/")):
        if not _COMPONENT.fullmatch(component):
            raise InvalidName(
                f"invalid {what} name {shown(name)}: path component {index + 1} "
                f"{shown(component)} is not [a-z0-9]+ joined by '.', '_', '__' or '-'"
            )
    return name


def check_tag(tag: object, what: str = "tag") -> str:
    """``tag`` when it is a valid tag, else :class:`InvalidName`."""
    if not isinstance(tag, str):
        raise InvalidName(f"{what} must be a string, got {type(tag).__name__}")
    if not tag:
        raise InvalidName(f"{what} is empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidName(
            f"{what} {shown(tag)} is {len(tag)} characters long (at most {MAX_TAG_LENGTH})"
        )
    if not _TAG.fullmatch(tag):
        raise InvalidName(
            f"invalid {what} {shown(tag)}: expected [A-Za-z0-9_] then up to 127 of [A-Za-z0-9._-]"
        )
    return tag


def is_digest(value: object) -> bool:
    """True for ``sha256:<64 hex>`` / ``sha512:<128 hex>``."""
    if not isinstance(value, str):
        return False
    match = _DIGEST.fullmatch(value)
    return match is not None and DIGEST_HEX_LENGTHS.get(match.group(1)) == len(match.group(2))


def check_digest(digest: object, what: str = "digest") -> str:
    """``digest`` when it is ``algorithm:hex`` of a known algorithm, else :class:`InvalidName`."""
    if not is_digest(digest):
        text = shown(digest) if isinstance(digest, str) else type(digest).__name__
        raise InvalidName(
            f"invalid {what} {text}: expected sha256:<64 hex> or sha512:<128 hex> (lower case)"
        )
    return str(digest)


def check_reference(reference: object) -> str:
    """A manifest reference: a tag or a digest."""
    if isinstance(reference, str) and ":" in reference:
        return check_digest(reference)
    return check_tag(reference, "tag")


def judge_template(parts: list[dict[str, str]], field: str) -> str | None:
    """What is already wrong with a parsed target template (``migrate.policy.values``
    parts), or ``None``.

    Every variable is replaced by the shortest valid value (``a``), so what the
    literal text fixes (``..``, upper case, spaces, a leading ``/``, a length
    over the limit) is caught before any image is rendered; a variable's own
    value is checked after rendering, at run time.
    """
    if not parts:
        return None
    sample = "".join(p["text"] if not p["var"] else _SAMPLE for p in parts)
    try:
        if field == "target_tag":
            check_tag(sample, "target_tag")
        else:
            check_repository(sample, "target_repo")
    except InvalidName as exc:
        return f"{exc} (variables judged as {_SAMPLE!r}; the rendered name is checked again)"
    return None
