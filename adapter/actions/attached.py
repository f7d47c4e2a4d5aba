"""What the runner attaches to a tag's decision for the executor.

* ``platform_selection`` (``platforms: allowed``): per replicate target
  (``registry/repo:tag``), which platforms of the index are kept and why the
  others are not (:class:`PlatformSubset`);
* ``referrers`` (``with_referrers: true``): the referrers found at the source
  and each one's own decision (:class:`ReferrerPlan`).

They ride in ``decision.metadata`` as these typed objects, never as plain
JSON: an engine's answer is parsed from JSON, so it can never produce them,
and the executor honours only instances of these classes (the runner also
drops the two keys from every engine answer). ``model_dump(mode="json")``
prints them as objects, so the JSON output shows what was kept and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from migrate.contract.decision import ReplicationDecision

__all__ = [
    "PLATFORM_SELECTION",
    "REFERRERS",
    "PlatformChoice",
    "PlatformSubset",
    "Referrer",
    "ReferrerPlan",
    "platform_subset",
    "referrer_plan",
    "without_attachments",
]

PLATFORM_SELECTION = "platform_selection"
REFERRERS = "referrers"


@dataclass(frozen=True)
class PlatformChoice:
    """One platform of an index, for one target: kept (allowed) or not, and why."""

    platform: str  # os/architecture[/variant]
    digest: str
    kept: bool
    why: str = ""


@dataclass(frozen=True)
class PlatformSubset:
    """The platforms of ``index_digest`` that one ``platforms: allowed`` target receives."""

    index_digest: str
    platforms: tuple[PlatformChoice, ...]

    @property
    def kept(self) -> frozenset[str]:
        return frozenset(p.digest for p in self.platforms if p.kept)

    def names(self, kept: bool) -> list[str]:
        return [p.platform for p in self.platforms if p.kept is kept]


@dataclass(frozen=True)
class Referrer:
    """A manifest that refers to ``subject`` (a digest of the same repository).

    ``found`` is how: ``referrers-api``, ``fallback-tag`` (the ``sha256-<hex>``
    index) or ``cosign`` (then ``tag`` is the ``sha256-<hex>.sig|.att|.sbom``
    tag holding it). ``copy`` is its own decision: ``False`` when the policy
    blocks it (``reason`` says why).
    """

    subject: str
    digest: str
    media_type: str
    size: int
    artifact_type: str = ""
    found: str = "referrers-api"
    tag: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    copy: bool = False
    reason: str = ""
    #: not copied because no engine could decide it (fail-closed): an error, not a policy block
    undecided: bool = False


@dataclass(frozen=True)
class ReferrerPlan:
    """Every referrer found for an image's subjects, decided; ``errors``: what could not be
    listed (an invalid answer is refused, never copied)."""

    referrers: tuple[Referrer, ...] = ()
    errors: tuple[str, ...] = ()
    #: the digests whose referrers were listed: the decided digest and each platform's
    subjects: tuple[str, ...] = ()


def platform_subset(decision: ReplicationDecision, target: str) -> PlatformSubset | None:
    selection = decision.metadata.get(PLATFORM_SELECTION)
    subset = selection.get(target) if isinstance(selection, dict) else None
    return subset if isinstance(subset, PlatformSubset) else None


def referrer_plan(decision: ReplicationDecision) -> ReferrerPlan | None:
    plan = decision.metadata.get(REFERRERS)
    return plan if isinstance(plan, ReferrerPlan) else None


def without_attachments(decision: ReplicationDecision) -> ReplicationDecision:
    """``decision`` without the two keys (an engine's answer must not carry them)."""
    if PLATFORM_SELECTION not in decision.metadata and REFERRERS not in decision.metadata:
        return decision
    metadata = {
        k: v for k, v in decision.metadata.items() if k not in (PLATFORM_SELECTION, REFERRERS)
    }
    return decision.model_copy(update={"metadata": metadata})
