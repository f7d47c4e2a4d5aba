"""Sweep-level action parameters: ``limit`` and ``latest_n`` of replicate actions.

They apply to the tags of one source repository that a sweep selected for
the same replicate action (same policies, same target registry):

* ``limit: "N"`` keeps the first N such tags in registry order (the order the
  registry lists them);
* ``latest_n: "N"`` keeps the N newest by ``created_at`` (unknown dates count
  as oldest; ties keep registry order);
* with ``limit_order: "semver"`` (converted legacy ``semver_constraint``
  images), ``limit`` keeps the first N in the legacy sync's order instead:
  newest version first in the legacy semver dialect (pkg/sync/semver.go
  ``FilterAndSort``; equal versions keep registry order).

The action is removed from the decisions of the other tags, with a note
saying why; a tag left without a replicate action is ``skipped``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.patterns.gosemver import Version, compare, legacy_parse_tag

__all__ = ["TagPlan", "apply_sweep_limits"]

# (registry, repository, target registry, policy ids, parameter name, parameter value)
_Key = tuple[str, str, str, str, str, str]
_PARAMETERS = ("latest_n", "limit")


@dataclass
class TagPlan:
    """One tag of a sweep: its platforms, their decisions, and the tag's decision."""

    registry: str
    repository: str
    tag: str
    platforms: list[ImageMetadata] = field(default_factory=list)
    decisions: list[ReplicationDecision] = field(default_factory=list)
    decision: ReplicationDecision | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def image(self) -> ImageMetadata:
        """The first platform's metadata: what the tag is reported and notified as."""
        if self.platforms:
            return self.platforms[0]
        return ImageMetadata(registry=self.registry, repository=self.repository, tag=self.tag)

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def _created(image: ImageMetadata) -> float:
    try:
        return datetime.fromisoformat(image.created_at).timestamp()
    except ValueError:
        return float("-inf")


def _count(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def _semver_order(
    plans: Sequence[TagPlan], members: list[tuple[int, DecisionAction]]
) -> list[tuple[int, DecisionAction]]:
    parsed = [(legacy_parse_tag(plans[i].tag), i, a) for i, a in members]
    out: list[tuple[Version | None, int, DecisionAction]] = []
    for item in parsed:  # stable insertion by version, newest first; unparsable last
        pos = len(out)
        while pos > 0 and _newer(item[0], out[pos - 1][0]):
            pos -= 1
        out.insert(pos, item)
    return [(i, a) for _, i, a in out]


def _newer(a: Version | None, b: Version | None) -> bool:
    if a is None:
        return False
    return b is None or compare(a, b) > 0


def apply_sweep_limits(plans: Sequence[TagPlan]) -> None:
    """Drop replicate actions beyond their ``limit`` / ``latest_n`` (in place)."""
    groups: dict[_Key, list[tuple[int, DecisionAction]]] = defaultdict(list)
    for index, plan in enumerate(plans):
        if plan.decision is None:
            continue
        for action in plan.decision.replications():
            for name in _PARAMETERS:
                if name in action.parameters:
                    key = (
                        plan.registry,
                        plan.repository,
                        action.target_registry,
                        ",".join(action.policy_ids),
                        name,
                        action.parameters[name],
                    )
                    groups[key].append((index, action))
                    break
    drop: dict[int, list[tuple[DecisionAction, str]]] = defaultdict(list)
    for key, members in groups.items():
        name, text = key[4], key[5]
        n = _count(text)
        if n is None:
            continue
        order = list(members)
        semver = name == "limit" and any(
            a.parameters.get("limit_order") == "semver" for _, a in members
        )
        if semver:
            order = _semver_order(plans, order)
            why = f"beyond the first {n} tags, newest version first (limit) for {key[2]}"
        elif name == "latest_n":
            order.sort(key=lambda m: -_created(plans[m[0]].image))  # stable: registry order
            why = f"not among the {n} newest tags (latest_n) for {key[2]}"
        else:
            why = f"beyond the first {n} tags (limit) for {key[2]}"
        for index, action in order[n:]:
            drop[index].append((action, why))
    for index, dropped in drop.items():
        plan = plans[index]
        if plan.decision is None:  # nothing was decided, so nothing to drop
            continue
        gone = [a for a, _ in dropped]
        actions = [a for a in plan.decision.actions if not any(a is g for g in gone)]
        replicate = any(a.type == "replicate" for a in actions)
        metadata = {**plan.decision.metadata, "sweep_limit": [why for _, why in dropped]}
        plan.decision = plan.decision.model_copy(
            update={"actions": actions, "should_replicate": replicate, "metadata": metadata}
        )
        plan.notes.extend(why for _, why in dropped)
