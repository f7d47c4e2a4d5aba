"""One decision per tag, from the decisions of its platforms.

A multi-platform tag (an index / manifest list) has one ImageMetadata per
platform, and every platform is decided. The tag is then replicated as a
whole (the index with every platform), so its platforms must agree:

1. if any platform's decision blocks, the tag is blocked by that decision
   (the first blocking platform, in index order);
2. else, if every platform asks for the same set of replicate targets
   (``registry/repo:tag``), the tag takes the *first* platform's decision
   (its notifications included);
3. else the platforms disagree, and the tag is blocked with a reason listing
   each platform's targets: a partial copy of an index is never made.

A single-platform image is just its own decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata

__all__ = ["combine_platforms", "platform_name"]


def platform_name(image: ImageMetadata) -> str:
    """``os/architecture[/variant]``, or the digest when the platform is unknown."""
    parts = [p for p in (image.os, image.architecture, image.variant) if p]
    return "/".join(parts) if parts else image.digest


def _targets(image: ImageMetadata, decision: ReplicationDecision) -> frozenset[str]:
    return frozenset(
        f"{a.target_registry}/{a.target_repo}:{a.target_tag or image.tag}"
        for a in decision.replications()
    )


def combine_platforms(
    images: Sequence[ImageMetadata], decisions: Sequence[ReplicationDecision]
) -> ReplicationDecision:
    """The tag's decision (see the module docstring)."""
    if len(images) != len(decisions) or not images:
        raise ValueError("one decision per platform is needed")
    if len(images) == 1:
        return decisions[0]
    count = {"platforms": len(images)}
    for image, decision in zip(images, decisions, strict=True):
        if decision.blocked or decision.outcome == "block":
            metadata = {**decision.metadata, **count, "platform": platform_name(image)}
            return decision.model_copy(update={"metadata": metadata})
    targets = [_targets(i, d) for i, d in zip(images, decisions, strict=True)]
    if all(t == targets[0] for t in targets):
        return decisions[0].model_copy(update={"metadata": {**decisions[0].metadata, **count}})
    listing = "; ".join(
        f"{platform_name(i)} -> {', '.join(sorted(t)) or 'nothing'}"
        for i, t in zip(images, targets, strict=True)
    )
    reason = f"blocked: the platforms of the index disagree ({listing})"
    matched = sorted({p for d in decisions for p in d.matched_policies})
    return ReplicationDecision(
        should_replicate=False,
        actions=[DecisionAction(type="block", parameters={"reason": reason})],
        matched_policies=matched,
        reason=reason,
        metadata={"outcome": "block", "platform_conflict": True, **count},
    )
