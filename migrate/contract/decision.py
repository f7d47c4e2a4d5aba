"""ReplicationDecision: the value of ``data.freightliner.replication.decision``.

The Rego library produces it; the adapter parses it with these models. The
shape is documented in ``docs/contract.md``; the tests of both halves check
their side against it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migrate.core.errors import EngineError
from migrate.core.retry import RetrySettings

__all__ = [
    "DECISION_PATH",
    "ActionType",
    "ConditionExplanation",
    "DecisionAction",
    "PlatformsMode",
    "PolicyExplanation",
    "ReplicationDecision",
    "parse_decision",
    "parse_decision_json",
]

#: The contract's decision document, as a data path.
DECISION_PATH = "freightliner/replication/decision"

ActionType = Literal["replicate", "block", "notify"]
#: A replicate action's ``platforms`` mode (docs/contract.md).
PlatformsMode = Literal["all", "allowed"]


class DecisionAction(BaseModel):
    """One action, ready to execute: templates are already rendered.

    ``policy_ids`` lists every matched policy that asked for this same action
    (duplicate targets are merged, the highest-priority policy first).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ActionType
    target_registry: str = ""
    target_repo: str = ""
    target_tag: str = ""
    parameters: dict[str, str] = Field(default_factory=dict)
    retry_policy: RetrySettings | None = None
    policy_ids: list[str] = Field(default_factory=list)
    priority: int = 0
    #: replicate: ``all`` (the whole index, only when every platform is allowed) or
    #: ``allowed`` (the allowed platforms as a new index); ignored by other actions
    platforms: PlatformsMode = "all"
    #: replicate: copy the image's referrers (signatures, attestations, SBOMs) too
    with_referrers: bool = False


class ConditionExplanation(BaseModel):
    """How one leaf condition of one policy evaluated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    type: str
    key: str = ""
    operator: str
    value: Any = None
    actual: Any = None
    matched: bool


class PolicyExplanation(BaseModel):
    """How one candidate policy evaluated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_id: str
    priority: int
    matched: bool
    conditions: list[ConditionExplanation] = Field(default_factory=list)


class ReplicationDecision(BaseModel):
    """The decision document; field names and meanings: docs/contract.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    should_replicate: bool
    actions: list[DecisionAction] = Field(default_factory=list)
    matched_policies: list[str] = Field(default_factory=list)
    reason: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    explanation: list[PolicyExplanation] = Field(default_factory=list)

    @property
    def outcome(self) -> str:
        """``replicate``, ``block``, ``no_match`` or ``no_action``."""
        return str(
            self.metadata.get("outcome", "replicate" if self.should_replicate else "no_match")
        )

    @property
    def blocked(self) -> bool:
        return any(a.type == "block" for a in self.actions)

    def replications(self) -> list[DecisionAction]:
        return [a for a in self.actions if a.type == "replicate"] if self.should_replicate else []

    def notifications(self) -> list[DecisionAction]:
        return [a for a in self.actions if a.type == "notify"]


def parse_decision(value: Any) -> ReplicationDecision:
    """A decision document from an engine's parsed answer.

    Raises :class:`EngineError` (caused by pydantic's ValidationError) when it
    does not match the contract; every engine parses its answer here.
    """
    try:
        return ReplicationDecision.model_validate(value)
    except ValidationError as exc:
        raise EngineError(f"the decision document does not match the contract: {exc}") from exc


def parse_decision_json(text: str) -> ReplicationDecision:
    """:func:`parse_decision` for the answer as JSON text (pydantic parses it in Rust)."""
    try:
        return ReplicationDecision.model_validate_json(text)
    except ValidationError as exc:
        raise EngineError(f"the decision document does not match the contract: {exc}") from exc
