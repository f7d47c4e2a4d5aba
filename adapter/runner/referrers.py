"""Deciding the referrers of the tags whose decision copies them (``with_referrers: true``).

A referrer (a signature, attestation, SBOM attached to an image) travels only
when **both** hold:

1. its subject is copied by a replicate action that says
   ``with_referrers: true`` (the referrer follows its subject to that target;
   it never goes anywhere on its own), and
2. its own decision does not block it: the referrer is decided as an image
   of the same registry, repository and tag as its subject, with its own
   ``digest``, ``media_type``, ``annotations`` and ``size`` (config + layers),
   no labels and no platform, and ``artifactType`` in
   ``annotations["org.opencontainers.artifact.type"]`` unless it carries
   that annotation itself; any block action in that decision (or a block
   outcome) keeps it back; a fail-closed decision (no engine could decide)
   keeps it back too and marks it ``undecided`` (the action then fails).

So a policy blocks referrers with the conditions it already has (e.g. an
annotation or the artifact type), and a referrer is never copied where its
image is not. Referrers are found with :func:`adapter.registry.referrers.find_referrers`
for the decided digest and every platform manifest of the tag, decided in one
batch per run, and attached to the tag's decision
(:class:`adapter.actions.attached.ReferrerPlan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from adapter.actions.attached import REFERRERS, Referrer, ReferrerPlan
from adapter.registry.client import RegistryClient
from adapter.registry.referrers import FoundReferrer, find_referrers
from adapter.runner.selection import TagPlan
from migrate.contract.decision import ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.core.errors import FreightlinerError

__all__ = ["ARTIFACT_TYPE_ANNOTATION", "plan_referrers", "referrer_image"]

ARTIFACT_TYPE_ANNOTATION = "org.opencontainers.artifact.type"
Decide = Callable[[list[ImageMetadata]], list[ReplicationDecision]]


def referrer_image(subject: ImageMetadata, found: FoundReferrer) -> ImageMetadata:
    """What a policy sees of a referrer (see the module docstring)."""
    annotations = dict(found.annotations)
    if found.artifact_type:
        annotations.setdefault(ARTIFACT_TYPE_ANNOTATION, found.artifact_type)
    return ImageMetadata(
        registry=subject.registry,
        repository=subject.repository,
        tag=subject.tag,
        digest=found.digest,
        annotations=annotations,
        size=found.content_size,
        media_type=found.media_type,
    )


def _wants_referrers(plan: TagPlan) -> bool:
    decision = plan.decision
    if decision is None or decision.blocked or decision.outcome == "block":
        return False
    return any(a.with_referrers for a in decision.replications())


_Found = tuple[TagPlan, list[str], list[FoundReferrer], list[str]]


def _find(plan: TagPlan, clients: Mapping[str, RegistryClient]) -> _Found:
    image = plan.image
    subjects = [image.index_digest] if image.index_digest else []
    subjects += [p.digest for p in plan.platforms if p.digest]
    client = clients.get(plan.registry)
    if client is None:
        return plan, subjects, [], [f"registry {plan.registry!r} is not configured"]
    try:
        listing = find_referrers(client, plan.repository, subjects)
    except FreightlinerError as exc:
        return plan, subjects, [], [f"cannot list referrers: {exc.message}"]
    return plan, subjects, listing.referrers, listing.errors


def plan_referrers(
    plans: Sequence[TagPlan],
    clients: Mapping[str, RegistryClient],
    decide: Decide,
    max_concurrency: int = 4,
) -> None:
    """Find (``max_concurrency`` tags at a time) and decide (one ``decide`` call) the
    referrers of every plan that copies them; attach the result to each plan's decision."""
    wanting = [p for p in plans if _wants_referrers(p)]
    if not wanting:
        return
    with ThreadPoolExecutor(
        max_workers=max(1, max_concurrency), thread_name_prefix="freightliner-referrers"
    ) as pool:
        found: list[_Found] = list(pool.map(lambda p: _find(p, clients), wanting))
    images = [referrer_image(plan.image, r) for plan, _, refs, _ in found for r in refs]
    decisions = iter(decide(images) if images else [])
    for plan, subjects, refs, errors in found:
        decided: list[Referrer] = []
        for ref in refs:
            decision = next(decisions)
            copy = not (decision.blocked or decision.outcome == "block")
            decided.append(
                Referrer(
                    subject=ref.subject,
                    digest=ref.digest,
                    media_type=ref.media_type,
                    size=ref.size,
                    artifact_type=ref.artifact_type,
                    found=ref.found,
                    tag=ref.tag,
                    annotations=dict(ref.annotations),
                    copy=copy,
                    reason=decision.reason,
                    undecided=decision.metadata.get("fallback") == "fail-closed",
                )
            )
        assert plan.decision is not None
        attached = ReferrerPlan(tuple(decided), tuple(errors), tuple(subjects))
        plan.decision = plan.decision.model_copy(
            update={"metadata": {**plan.decision.metadata, REFERRERS: attached}}
        )
