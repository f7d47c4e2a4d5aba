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

That is ``platforms: all`` (the default of replicate actions). When a
replicate action of an index's platforms says ``platforms: allowed``
(:func:`combine_allowed`), each target takes the platforms whose decision
replicates to it and does not block; the others are left out of the new index
written for that target (docs/policies.md, "Platforms").

A single-platform image is just its own decision. Every engine answer loses
the metadata keys of :mod:`adapter.actions.attached` first (only the runner
sets them).
"""

from __future__ import annotations

from collections.abc import Sequence

from adapter.actions.attached import (
    PLATFORM_SELECTION,
    PlatformChoice,
    PlatformSubset,
    without_attachments,
)
from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata

__all__ = ["combine_allowed", "combine_platforms", "platform_name"]


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
    decisions = [without_attachments(d) for d in decisions]
    if images[0].index_digest and any(
        a.platforms == "allowed" for d in decisions if not _blocks(d) for a in d.replications()
    ):
        return combine_allowed(images, decisions)
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
    return _conflict(images, decisions, listing, count)


def _conflict(
    images: Sequence[ImageMetadata],
    decisions: Sequence[ReplicationDecision],
    listing: str,
    count: dict[str, int],
) -> ReplicationDecision:
    reason = f"blocked: the platforms of the index disagree ({listing})"
    matched = sorted({p for d in decisions for p in d.matched_policies})
    return ReplicationDecision(
        should_replicate=False,
        actions=[DecisionAction(type="block", parameters={"reason": reason})],
        matched_policies=matched,
        reason=reason,
        metadata={"outcome": "block", "platform_conflict": True, **count},
    )


def _blocks(decision: ReplicationDecision) -> bool:
    """The executor's test: any block action, or a ``block`` outcome."""
    return decision.blocked or decision.outcome == "block"


def _why_not(decision: ReplicationDecision) -> str:
    if _blocks(decision):
        return f"blocked: {decision.reason}"
    return f"not replicated here: {decision.reason}"


def combine_allowed(
    images: Sequence[ImageMetadata], decisions: Sequence[ReplicationDecision]
) -> ReplicationDecision:
    """The tag's decision when a replicate action says ``platforms: allowed``.

    Per target (``registry/repo:tag``): the platforms whose decision replicates
    to it and does not block are kept, the others are left out with the reason
    (a :class:`PlatformSubset` per target in ``metadata.platform_selection``).
    A target asked for with ``platforms: all`` by any platform still needs
    every platform (else the tag is blocked as in :func:`combine_platforms`).
    The tag's actions: each target's action as its first kept platform has it,
    then every platform's notifications (each once). A platform whose decision is
    a fail-closed engine failure blocks the whole tag (that decision, as
    ``all`` does): an engine failure is never turned into a smaller copy.
    """
    count = {"platforms": len(images)}
    for image, decision in zip(images, decisions, strict=True):
        if decision.metadata.get("fallback") == "fail-closed":  # no engine decided it: never
            metadata = {**decision.metadata, **count, "platform": platform_name(image)}
            return decision.model_copy(update={"metadata": metadata})  # a partial copy
    order: list[str] = []
    wanted: dict[str, list[tuple[int, DecisionAction]]] = {}
    for i, (image, decision) in enumerate(zip(images, decisions, strict=True)):
        if _blocks(decision):
            continue
        for action in decision.replications():
            key = f"{action.target_registry}/{action.target_repo}:{action.target_tag or image.tag}"
            if key not in wanted:
                order.append(key)
                wanted[key] = []
            wanted[key].append((i, action))
    everyone = set(range(len(images)))
    for key in order:
        if (
            any(a.platforms == "all" for _, a in wanted[key])
            and {i for i, _ in wanted[key]} != everyone
        ):
            listing = "; ".join(
                f"{platform_name(im)} -> "
                + ("blocked" if _blocks(d) else ", ".join(sorted(_targets(im, d))) or "nothing")
                for im, d in zip(images, decisions, strict=True)
            )
            return _conflict(images, decisions, f"{key} asks for platforms: all; {listing}", count)
    subsets: dict[str, PlatformSubset] = {}
    actions: list[DecisionAction] = []
    for key in order:
        kept = {i for i, _ in wanted[key]}
        subsets[key] = PlatformSubset(
            images[0].index_digest,
            tuple(
                PlatformChoice(
                    platform_name(image),
                    image.digest,
                    i in kept,
                    "" if i in kept else _why_not(decisions[i]),
                )
                for i, image in enumerate(images)
            ),
        )
        actions.append(wanted[key][0][1])
    notifications: list[DecisionAction] = []
    for decision in decisions:
        for action in decision.notifications():
            if action not in notifications:
                notifications.append(action)
    matched = sorted({p for d in decisions for p in d.matched_policies})
    if not actions:  # nothing to copy: the first block, else the first decision, as "all" does
        first = next((d for d in decisions if _blocks(d)), decisions[0])
        return first.model_copy(update={"metadata": {**first.metadata, **count}})
    reason = "; ".join(
        f"replicate {', '.join(s.names(True))} to {key}"
        + (f" (left out: {', '.join(s.names(False))})" if s.names(False) else "")
        for key, s in subsets.items()
    )
    return ReplicationDecision(
        should_replicate=True,
        actions=[*actions, *notifications],
        matched_policies=matched,
        reason=reason,
        metadata={"outcome": "replicate", **count, PLATFORM_SELECTION: subsets},
        explanation=decisions[0].explanation,
    )
