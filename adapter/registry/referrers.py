"""Finding the referrers of a manifest: signatures, attestations, SBOMs attached to it.

For a subject digest ``sha256:<hex>`` in one repository, three places are read:

1. the OCI 1.1 referrers API, ``GET /v2/<name>/referrers/<digest>``; a 404
   means the registry has no such API, and then
2. the referrers tag schema: the tag ``sha256-<hex>`` holding an OCI index
   whose entries are the referrers;
3. always, cosign's tags ``sha256-<hex>.sig``, ``.att``, ``.sbom``.

Every answer is hostile: listings are bounded (:data:`MAX_REFERRERS` per
subject, :data:`MAX_LISTING_BYTES`, :data:`MAX_PAGES` pages on the same origin
and path), each entry must have a valid digest, a manifest media type and a
bounded size, and each referrer is read **by digest from the same repository
on the same registry** (the client verifies the bytes hash to it); a referrer
found through 1 or 2 must name the subject in its own ``subject`` field.
Nothing refers anywhere else is followed: ``urls``, other repositories and
hosts are never requested. A listing that breaks a rule is refused as a
whole and reported in ``errors``; nothing of it is copied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapter.registry.client import MAX_MANIFEST_BYTES, RegistryClient
from adapter.registry.interface import Manifest
from adapter.registry.manifest import (
    MANIFEST_MEDIA_TYPES,
    OCI_INDEX,
    ParsedManifest,
    parse_manifest,
)
from adapter.registry.reference import InvalidName, check_digest, check_repository, check_tag
from migrate.core.errors import FreightlinerError, RegistryError
from migrate.core.limits import MAX_EXACT_INTEGER

__all__ = [
    "COSIGN_SUFFIXES",
    "MAX_DEPTH",
    "MAX_LISTING_BYTES",
    "MAX_PAGES",
    "MAX_REFERRERS",
    "FoundReferrer",
    "ReferrerListing",
    "checked_size",
    "fallback_tag",
    "find_referrers",
    "has_referrers_api",
    "index_entries",
    "is_referrer_tag",
    "referrer_descriptor",
]

#: Referrers accepted per subject; a listing with more is refused.
MAX_REFERRERS = 64
#: Bytes of one referrers answer or fallback index.
MAX_LISTING_BYTES = 1 << 20
#: Pages of one referrers API answer (``Link: rel="next"``, same origin and path).
MAX_PAGES = 8
#: Referrers of referrers are followed this deep (a signature of an SBOM: depth 2).
MAX_DEPTH = 2
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
_MAX_ANNOTATIONS = 64
_MAX_TEXT = 1024


@dataclass(frozen=True)
class FoundReferrer:
    """One referrer, read and checked: how it was found (``referrers-api``, ``fallback-tag``,
    ``cosign``), its cosign ``tag``, and what a policy sees of it."""

    subject: str
    digest: str
    media_type: str
    size: int  # manifest bytes
    content_size: int  # config + layers, what ImageMetadata.size means
    artifact_type: str
    annotations: dict[str, str]
    found: str
    tag: str = ""


@dataclass
class ReferrerListing:
    referrers: list[FoundReferrer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_REFERRER_TAG = re.compile(r"(sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128})(\.(sig|att|sbom))?")


def is_referrer_tag(tag: str) -> bool:
    """A tag of the referrers tag schema (``sha256-<hex>``) or a cosign tag
    (``sha256-<hex>.sig|.att|.sbom``): it holds referrers of a digest, not an image."""
    return _REFERRER_TAG.fullmatch(tag) is not None


def fallback_tag(subject: str) -> str:
    """``sha256-<hex>``: the referrers tag schema's tag of ``subject``."""
    algorithm, _, hexpart = check_digest(subject).partition(":")
    return f"{algorithm}-{hexpart}"


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > _MAX_TEXT or not value.isprintable():
        raise RegistryError(f"{what} is not a short printable string")
    return value


def _annotations(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > _MAX_ANNOTATIONS:
        raise RegistryError(f"{what}: annotations must be an object of at most {_MAX_ANNOTATIONS}")
    return {
        _text(k, f"{what}: annotation key"): _text(v, f"{what}: annotation")
        for k, v in value.items()
    }


def index_entries(content: bytes, what: str) -> list[tuple[str, str, int]]:
    """``(digest, media type, size)`` of each entry of a referrers index, checked."""
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise RegistryError(f"{what} is not JSON") from exc
    if not isinstance(document, dict) or document.get("mediaType", OCI_INDEX) != OCI_INDEX:
        raise RegistryError(f"{what} is not an OCI image index")
    entries = document.get("manifests") or []
    if not isinstance(entries, list):
        raise RegistryError(f"{what}: 'manifests' is not a list")
    if len(entries) > MAX_REFERRERS:
        raise RegistryError(f"{what}: more than {MAX_REFERRERS} referrers; refused")
    checked = []
    for i, entry in enumerate(entries):
        where = f"{what}: manifests[{i}]"
        if not isinstance(entry, dict):
            raise RegistryError(f"{where} is not an object")
        digest, media_type, size = entry.get("digest"), entry.get("mediaType"), entry.get("size")
        try:
            check_digest(digest)
        except InvalidName as exc:
            raise RegistryError(f"{where}: {exc}") from exc
        if media_type not in MANIFEST_MEDIA_TYPES:
            raise RegistryError(f"{where}: media type {str(media_type)[:80]!r} is not a manifest")
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or not 0 < size <= MAX_MANIFEST_BYTES
        ):
            raise RegistryError(f"{where}: size must be 1..{MAX_MANIFEST_BYTES}")
        _text(entry.get("artifactType"), f"{where}: artifactType")
        _annotations(entry.get("annotations"), where)
        checked.append((str(digest), str(media_type), size))
    return checked


def _read_capped(response: httpx.Response, what: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > MAX_LISTING_BYTES:
                raise RegistryError(f"{what}: larger than {MAX_LISTING_BYTES} bytes; refused")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise RegistryError(f"{what}: reading the answer: {exc}") from exc
    finally:
        response.close()
    return b"".join(chunks)


def _api_path(repository: str, subject: str) -> str:
    return f"/v2/{check_repository(repository)}/referrers/{check_digest(subject)}"


def has_referrers_api(client: RegistryClient, repository: str, subject: str) -> bool:
    """Whether the registry answers the referrers API (200) rather than 404."""
    response = client.request("GET", _api_path(repository, subject), headers={"Accept": OCI_INDEX})
    if response.status_code == 404:
        return False
    client.check(response, {200}, f"referrers of {repository}@{subject}")
    return True


def _from_api(
    client: RegistryClient, repository: str, subject: str
) -> list[tuple[str, str, int]] | None:
    """The API's entries, or ``None`` when the registry has no referrers API (404)."""
    path = _api_path(repository, subject)
    what = f"registry {client.name!r}: referrers of {repository}@{subject}"
    target: str | None = path
    seen: set[str] = set()
    entries: list[tuple[str, str, int]] = []
    while target is not None:
        if len(seen) >= MAX_PAGES:
            raise RegistryError(f"{what}: more than {MAX_PAGES} pages; refused")
        seen.add(target)
        response = client.request("GET", target, headers={"Accept": OCI_INDEX}, stream=True)
        if response.status_code == 404 and target == path:
            response.close()
            return None
        if response.status_code != 200:
            response.close()
            client.check(response, {200}, f"referrers of {repository}@{subject}")
        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        if media_type != OCI_INDEX:
            response.close()
            raise RegistryError(f"{what}: answered {media_type[:80]!r}, not an OCI index")
        entries.extend(index_entries(_read_capped(response, what), what))
        if len(entries) > MAX_REFERRERS:
            raise RegistryError(f"{what}: more than {MAX_REFERRERS} referrers; refused")
        target = _next_page(client, response, path, seen, what)
    return entries


def _next_page(
    client: RegistryClient, response: httpx.Response, path: str, seen: set[str], what: str
) -> str | None:
    link = response.links.get("next", {}).get("url") if response.headers.get("Link") else None
    if not link:
        return None
    url = client.url_for(link)  # refuses another origin
    if url.path != path or url.raw_path.decode("ascii").split("?", 1)[0] != path:
        raise RegistryError(f"{what}: Link to another path refused")
    following = url.raw_path.decode("ascii")
    if following in seen:
        raise RegistryError(f"{what}: pagination repeats; refused")
    return following


def checked_size(parsed: ParsedManifest, what: str) -> int:
    """Config + layers, refused unless every size is 0..2**63-1 and so is the sum (what a
    policy can compare exactly; a hostile manifest cannot make the decision input invalid)."""
    sizes = [d.size for d in parsed.blobs()]
    total = sum(sizes)
    if any(size < 0 for size in sizes) or total > MAX_EXACT_INTEGER:
        raise RegistryError(f"{what}: blob sizes out of range; refused")
    return total


def _read_referrer(
    client: RegistryClient, repository: str, subject: str, digest: str, found: str, tag: str = ""
) -> FoundReferrer:
    manifest: Manifest = client.get_manifest(repository, digest)  # verified against the digest
    parsed = parse_manifest(manifest.content, manifest.media_type)
    document = json.loads(manifest.content)
    what = f"registry {client.name!r}: referrer {repository}@{digest}"
    if found != "cosign":
        named = document.get("subject")
        if not isinstance(named, dict) or named.get("digest") != subject:
            raise RegistryError(f"{what} does not name {subject} as its subject; refused")
    content_size = checked_size(parsed, what)
    artifact_type = _text(document.get("artifactType"), f"{what}: artifactType")
    if not artifact_type and parsed.config is not None:
        artifact_type = _text(parsed.config.media_type, f"{what}: config mediaType")
    return FoundReferrer(
        subject=subject,
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=len(manifest.content),
        content_size=content_size,
        artifact_type=artifact_type,
        annotations=_annotations(document.get("annotations"), what),
        found=found,
        tag=tag,
    )


def _of_subject(client: RegistryClient, repository: str, subject: str) -> list[FoundReferrer]:
    listed = _from_api(client, repository, subject)
    found = "referrers-api"
    if listed is None:
        found = "fallback-tag"
        tag = fallback_tag(subject)
        info = client.head_manifest(repository, tag)
        listed = []
        if info is not None:
            index = client.get_manifest(repository, info.digest)
            what = f"registry {client.name!r}: {repository}:{tag}"
            if index.media_type != OCI_INDEX:
                raise RegistryError(f"{what} is not an OCI image index; refused")
            listed = index_entries(index.content, what)
    referrers = [_read_referrer(client, repository, subject, d, found) for d, _, _ in listed]
    base = fallback_tag(subject)
    for suffix in COSIGN_SUFFIXES:
        tag = base + suffix
        try:
            check_tag(tag)
        except InvalidName:  # sha512 names are too long for a tag: cosign cannot have one
            continue
        info = client.head_manifest(repository, tag)
        if info is not None:
            referrers.append(
                _read_referrer(client, repository, subject, info.digest, "cosign", tag)
            )
    return referrers


def find_referrers(
    client: RegistryClient, repository: str, subjects: Iterable[str], depth: int = MAX_DEPTH
) -> ReferrerListing:
    """Every referrer of ``subjects`` and of those referrers, ``depth`` levels, breadth first
    (a referrer always after its subject), each digest once. A subject whose listing breaks a
    rule (see the module docstring) contributes nothing and one line to ``errors``."""
    listing = ReferrerListing()
    seen: set[str] = set()
    level = [s for s in dict.fromkeys(subjects)]
    seen.update(level)
    for _ in range(depth):
        following: list[str] = []
        for subject in level:
            try:
                found = _of_subject(client, repository, subject)
            except (FreightlinerError, InvalidName) as exc:
                listing.errors.append(str(getattr(exc, "message", exc)))
                continue
            for referrer in found:
                if referrer.digest in seen:
                    continue
                seen.add(referrer.digest)
                listing.referrers.append(referrer)
                following.append(referrer.digest)
        level = following
        if not level:
            break
    return listing


def referrer_descriptor(referrer: FoundReferrer | Any) -> dict[str, Any]:
    """The descriptor of a referrer in a referrers index (the spec's fields)."""
    descriptor: dict[str, Any] = {
        "mediaType": referrer.media_type,
        "digest": referrer.digest,
        "size": referrer.size,
    }
    if referrer.artifact_type:
        descriptor["artifactType"] = referrer.artifact_type
    if referrer.annotations:
        descriptor["annotations"] = dict(referrer.annotations)
    return descriptor
