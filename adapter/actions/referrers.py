"""Copy an image's decided referrers after the image (``with_referrers: true``).

Called by the executor once the subject is at the target. For each referrer
of a subject now at the target, in the order found (a referrer after its
subject, so ``subject`` always points at something already pushed):

* a referrer whose own decision blocks it is not copied (reported, with the
  decision's reason), and neither are the referrers that refer to it; one
  that no engine could decide (fail-closed) is not copied either, and is an
  error (the action fails, the next run tries again);
* the others are copied with :meth:`ImageCopier.copy` by digest (a cosign
  referrer under its ``sha256-<hex>.sig|.att|.sbom`` tag as well): bytes and
  digests unchanged, blobs verified;
* then, for the referrers that have a ``subject`` (found through the
  referrers API or the fallback tag), when the target has no referrers API
  (``GET /v2/<name>/referrers/<digest>`` answers 404) the target's fallback
  tag ``sha256-<hex>`` is updated: its index keeps every entry it had and
  gains one descriptor per copied referrer (``mediaType``, ``digest``,
  ``size``, ``artifactType``, ``annotations``), as the spec asks a client to
  do. A target with the API indexes ``subject`` itself.

Errors never undo the image copy: they are returned and the action is
reported ``failed`` so the next run retries (the image is then skipped).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapter.actions.attached import Referrer, ReferrerPlan
from adapter.actions.replicate import ImageCopier, ImageLocation
from adapter.registry.manifest import OCI_INDEX
from adapter.registry.referrers import (
    fallback_tag,
    has_referrers_api,
    index_entries,
    referrer_descriptor,
)
from migrate.core.errors import FreightlinerError, RegistryError
from migrate.core.retry import RetrySettings

__all__ = ["ReferrersCopied", "copy_referrers"]


@dataclass(frozen=True)
class ReferrersCopied:
    """Digests copied (pushed now), already there, ``digest: reason`` of those the policy kept
    back, and errors."""

    copied: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    fallback_tags: tuple[str, ...] = ()  # target fallback tags written


def copy_referrers(
    copier: ImageCopier,
    source: ImageLocation,
    target: ImageLocation,
    plan: ReferrerPlan,
    subjects: frozenset[str],
    retry: RetrySettings | None = None,
) -> ReferrersCopied:
    """Copy the referrers of ``subjects`` (digests now at the target); see the module docstring."""
    present = set(subjects)
    copied: list[str] = []
    already: list[str] = []
    blocked: list[str] = []
    errors = list(plan.errors)
    with_subject: dict[str, list[Referrer]] = {}
    for referrer in plan.referrers:
        if referrer.subject not in present:
            continue
        if referrer.undecided:
            errors.append(f"referrer {referrer.digest} not decided: {referrer.reason}")
            continue
        if not referrer.copy:
            blocked.append(f"{referrer.digest}: {referrer.reason}")
            continue
        try:
            done = copier.copy(
                ImageLocation(source.client, source.repository, referrer.digest),
                ImageLocation(target.client, target.repository, referrer.tag or referrer.digest),
                retry,
            )
        except FreightlinerError as exc:
            errors.append(f"referrer {referrer.digest}: {exc.message}")
            continue
        present.add(referrer.digest)
        (already if done.skipped else copied).append(referrer.digest)
        if referrer.found != "cosign":
            with_subject.setdefault(referrer.subject, []).append(referrer)
    written: list[str] = []
    for subject, referrers in with_subject.items():
        try:
            tag = _update_fallback(target, subject, referrers)
        except FreightlinerError as exc:
            errors.append(f"fallback tag of {subject}: {exc.message}")
            continue
        if tag:
            written.append(tag)
    return ReferrersCopied(
        tuple(copied), tuple(already), tuple(blocked), tuple(errors), tuple(written)
    )


def _update_fallback(target: ImageLocation, subject: str, referrers: list[Referrer]) -> str:
    """Add ``referrers`` to the target's ``sha256-<hex>`` index (unless the target has the
    referrers API); the tag written, or ``""`` when nothing had to change."""
    client, repository = target.client, target.repository
    if has_referrers_api(client, repository, subject):
        return ""
    tag = fallback_tag(subject)
    entries: list[Any] = []
    info = client.head_manifest(repository, tag)
    if info is not None:
        existing = client.get_manifest(repository, info.digest)
        what = f"registry {client.name!r}: {repository}:{tag}"
        if existing.media_type != OCI_INDEX:
            raise RegistryError(f"{what} exists and is not an OCI image index; left as is")
        index_entries(existing.content, what)  # checked: bounded, valid descriptors
        entries = list(json.loads(existing.content).get("manifests") or [])
    have = {e.get("digest") for e in entries if isinstance(e, Mapping)}
    added = [referrer_descriptor(r) for r in referrers if r.digest not in have]
    if not added:
        return ""
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*entries, *added]}
    content = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    client.put_manifest(repository, tag, content, OCI_INDEX)
    return tag
