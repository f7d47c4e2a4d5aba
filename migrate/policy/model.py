"""The policy model: what a policy YAML file may say (docs/policies.md).

The design's ``Policy``, ``PolicyCondition``, ``ReplicationAction`` and
``RetryPolicy``, plus explicit condition groups (``all``/``any``/``not``),
``examples`` for generated tests, and the config file's ``policy:`` section.
Shapes are checked here; meanings (operators, patterns, templates) are
checked when a policy is compiled (:mod:`migrate.policy.conditions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

__all__ = [
    "PLATFORMS_MODES",
    "ConditionNode",
    "LegacyDestination",
    "LoadedPolicy",
    "Policy",
    "PolicyAction",
    "PolicyConfig",
    "PolicyExample",
    "PolicySet",
    "RetryPolicySpec",
]

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)

#: ``platforms`` of a replicate action: ``all`` copies an index only when every platform is
#: allowed (else the tag is blocked); ``allowed`` copies the allowed platforms as a new index.
PLATFORMS_MODES = ("all", "allowed")


class ConditionNode(BaseModel):
    """A leaf condition (``type``/``operator``/``value``) or a group (``all``/``any``/``not``).

    ``logical_op`` joins an entry of a ``conditions`` list to the entries
    before it; AND binds tighter than OR (docs/policies.md).
    """

    model_config = _STRICT

    type: str | None = None
    operator: str | None = None
    value: Any = None
    key: str | None = None
    #: semver conditions only: let prerelease versions match the range (docs/policies.md)
    include_prerelease: bool | None = None
    logical_op: Literal["AND", "OR", "and", "or"] | None = None
    all: list[ConditionNode] | None = None
    any: list[ConditionNode] | None = None
    not_: ConditionNode | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_kind(self) -> ConditionNode:
        groups = [g for g in ("all", "any", "not_") if getattr(self, g) is not None]
        leaf = self.type is not None or self.operator is not None
        if len(groups) > 1:
            raise ValueError("a group has exactly one of 'all', 'any', 'not'")
        if groups and (
            leaf
            or self.value is not None
            or self.key is not None
            or self.include_prerelease is not None
        ):
            raise ValueError(
                "a condition is either a group (all/any/not) or a leaf (type/operator/value)"
            )
        if not groups and (self.type is None or self.operator is None):
            raise ValueError("a condition needs 'type' and 'operator' (or is a group: all/any/not)")
        return self

    @property
    def is_group(self) -> bool:
        return self.all is not None or self.any is not None or self.not_ is not None


class RetryPolicySpec(BaseModel):
    """How often and how patiently an action is retried."""

    model_config = _STRICT

    max_attempts: int = Field(default=3, ge=1, le=100)
    backoff: str = "1s"
    max_backoff: str = "30s"
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)


class LegacyDestination(BaseModel):
    """A converted legacy rule's source and destination repository patterns, rendered
    as ``{legacy}`` by legacy ``GetDestinationRepository`` (docs/migration.md)."""

    model_config = _STRICT

    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)


class PolicyAction(BaseModel):
    """ReplicationAction (docs/policies.md, "Actions"), plus ``target_tag``, ``{match}`` trims."""

    model_config = _STRICT

    type: Literal["replicate", "block", "notify"]
    target_registry: str = ""
    target_repo: str = "{repository}"
    target_tag: str = "{tag}"
    match_prefix: str = ""
    match_suffix: str = ""
    parameters: dict[str, str] = Field(default_factory=dict)
    retry_policy: RetryPolicySpec | None = None
    legacy_destination: LegacyDestination | None = None
    #: multi-platform images: ``all`` (default) or ``allowed`` (docs/policies.md, "Platforms")
    platforms: str = "all"
    #: copy signatures, attestations, SBOMs attached to the image (docs/policies.md, "Referrers")
    with_referrers: StrictBool = False

    @field_validator("platforms")
    @classmethod
    def _platforms_mode(cls, value: str) -> str:
        if value not in PLATFORMS_MODES:
            raise ValueError(
                f"unknown platforms mode {value!r}: use 'all' (the default: the whole index, "
                "only when every platform is allowed) or 'allowed' (the allowed platforms as a "
                "new index)"
            )
        return value

    @model_validator(mode="after")
    def _targets(self) -> PolicyAction:
        if self.type != "replicate":
            for name in ("platforms", "with_referrers"):
                if name in self.model_fields_set:
                    raise ValueError(f"'{name}' applies to replicate actions only")
        if self.type == "replicate" and not self.target_registry:
            raise ValueError("a replicate action needs 'target_registry'")
        if self.type == "notify" and not self.parameters.get("url"):
            raise ValueError("a notify action needs parameters.url (the webhook)")
        return self


class PolicyExample(BaseModel):
    """An image and what the policy (and optionally the whole bundle) should decide for it."""

    model_config = _STRICT

    image: dict[str, Any]
    now: str | None = None
    matched: bool
    targets: list[str] | None = None
    decision: dict[str, Any] | None = None


class Policy(BaseModel):
    """One replication policy."""

    model_config = _STRICT

    id: str = Field(min_length=1, max_length=256)
    name: str = ""
    description: str = ""
    enabled: bool = True
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    schedule: str | None = None
    conditions: list[ConditionNode] = Field(default_factory=list)
    actions: list[PolicyAction] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    examples: list[PolicyExample] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None


class PolicyConfig(BaseModel):
    """The ``policy:`` section of a Freightliner ``config.yaml``."""

    model_config = _STRICT

    enabled: bool = False
    configPath: str | None = None
    evaluationTimeout: str = "100ms"
    maxConcurrency: int = Field(default=10, ge=1)
    cacheSize: int = Field(default=1000, ge=0)
    policies: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy and where it came from."""

    policy: Policy
    file: str
    line: int | None
    raw: Any = None


@dataclass
class PolicySet:
    """Every policy of a build, in a stable order (by id)."""

    policies: list[LoadedPolicy] = field(default_factory=list)

    def by_id(self) -> dict[str, LoadedPolicy]:
        return {p.policy.id: p for p in self.policies}

    def __len__(self) -> int:
        return len(self.policies)
