"""Copy some platforms of an index as a new index (``platforms: allowed``).

The new index is the source index's JSON with only the kept entries in
``manifests`` (source order, every other field and each kept entry's
descriptor unchanged), serialised compactly with the source's key order: the
same source index and the same kept platforms always give the same bytes and
so the same digest. A buildx attestation entry
(``vnd.docker.reference.type: attestation-manifest``) is kept exactly when the
platform manifest it describes (``vnd.docker.reference.digest``) is kept;
any other entry that was not decided (a nested index, an ``unknown``
platform) is left out.

Order, as for a whole image (:mod:`adapter.actions.replicate`): each kept
child is copied by digest with :meth:`ImageCopier.copy` (blobs verified,
digests preserved), then the new index is pushed by digest, and only then
the target tag is pointed at it. When every entry is kept the source index
itself is copied unchanged (its digest preserved).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from adapter.actions.attached import PlatformSubset
from adapter.actions.replicate import CopyResult, ImageCopier, ImageLocation
from adapter.registry.digest import compute_digest
from adapter.registry.manifest import INDEX_MEDIA_TYPES, parse_manifest
from migrate.core.errors import ActionError, FreightlinerError
from migrate.core.reference import is_digest
from migrate.core.retry import RetrySettings

__all__ = ["copy_subset", "subset_index"]

_ATTESTATION = "attestation-manifest"


def subset_index(content: bytes, kept: frozenset[str]) -> tuple[bytes, list[str]] | None:
    """The new index bytes and the digests of its entries, or ``None`` when every entry is
    kept (copy the source unchanged). :class:`ActionError` when nothing would be left."""
    try:
        document: Any = json.loads(content)
    except ValueError as exc:
        raise ActionError(f"the source index is not JSON: {exc}") from exc
    entries = document.get("manifests") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ActionError("the source index has no 'manifests' list")
    chosen: list[Any] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        annotations = entry.get("annotations")
        annotations = annotations if isinstance(annotations, dict) else {}
        if annotations.get("vnd.docker.reference.type") == _ATTESTATION:
            if annotations.get("vnd.docker.reference.digest") in kept:
                chosen.append(entry)
        elif entry["digest"] in kept:
            chosen.append(entry)
    if not chosen:
        raise ActionError("no platform of the index is allowed for this target")
    if len(chosen) == len(entries):
        return None
    document["manifests"] = chosen
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8"), [str(e["digest"]) for e in chosen]


def copy_subset(
    copier: ImageCopier,
    source: ImageLocation,
    subset: PlatformSubset,
    target: ImageLocation,
    retry: RetrySettings | None = None,
) -> CopyResult:
    """Copy the kept platforms of ``subset`` (see the module docstring).

    ``source.reference`` must be the decided index digest; the result's
    ``source_digest`` is that digest and ``target_digest`` the new index's.
    """
    if not is_digest(source.reference) or source.reference != subset.index_digest:
        raise ActionError(
            f"platforms: allowed needs the decided index digest ({subset.index_digest}); "
            "nothing copied"
        )
    index = source.client.get_manifest(source.repository, source.reference)  # digest-verified
    if index.media_type not in INDEX_MEDIA_TYPES:
        raise ActionError(f"{source.repository}@{index.digest} is not an index; nothing copied")
    try:
        parse_manifest(index.content, index.media_type)
    except FreightlinerError as exc:
        raise ActionError(f"{source.repository}@{index.digest}: {exc}") from exc
    built = subset_index(index.content, subset.kept)
    if built is None:
        return copier.copy(source, target, retry)
    content, children = built
    digest = compute_digest(content)
    existing = target.client.head_manifest(target.repository, target.reference)
    if (
        existing is not None
        and existing.digest == digest
        and all(
            target.client.head_manifest(target.repository, child) is not None for child in children
        )
    ):
        return CopyResult(index.digest, digest, skipped=True)
    total = CopyResult(index.digest, digest)
    for child in children:
        done = copier.copy(
            ImageLocation(source.client, source.repository, child),
            ImageLocation(target.client, target.repository, child),
            retry,
        )
        total = replace(
            total,
            bytes_copied=total.bytes_copied + done.bytes_copied,
            blobs_copied=total.blobs_copied + done.blobs_copied,
            blobs_skipped=total.blobs_skipped + done.blobs_skipped,
            blobs_mounted=total.blobs_mounted + done.blobs_mounted,
            manifests_pushed=total.manifests_pushed + done.manifests_pushed,
            seconds=total.seconds + done.seconds,
        )
    pushed = target.client.put_manifest(target.repository, digest, content, index.media_type)
    if not is_digest(target.reference):  # the tag last: never a partial index at the tag
        pushed = target.client.put_manifest(
            target.repository, target.reference, content, index.media_type
        )
    if pushed != digest:
        raise ActionError(
            f"{target.client.name}/{target.repository}:{target.reference} stored as {pushed}, "
            f"the new index is {digest}"
        )
    return replace(total, manifests_pushed=total.manifests_pushed + 1)
