"""The legacy replication rules as a decision source, for ``failure_mode: fail-open``.

Graceful degradation (docs/adapter.md, "Decisions"): when the policy engine fails, fall back to
the existing replication logic. The rules are the config file's
``replication.rules`` (Freightliner's ``ReplicationRule``: source registry /
repository glob, destination registry / repository, tag filter), read by
:func:`migrate.legacy.reader.read_legacy` and evaluated by the legacy
semantics :class:`migrate.legacy.semantics.LegacyEvaluator` (Go
``filepath.Match`` globs, ``GetDestinationRepository``).

Every target the rules give becomes a ``replicate`` action; no match is
``no_match`` (nothing replicated). Legacy rules know nothing about blocking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrate.contract.decision import DecisionAction, ReplicationDecision
from migrate.contract.image import ImageMetadata
from migrate.legacy.model import LegacyInput
from migrate.legacy.reader import read_legacy
from migrate.legacy.semantics import LegacyEvaluator
from migrate.legacy.source import load_document, snake

__all__ = ["LEGACY_POLICY_ID", "LegacyRulesEngine", "load_legacy_rules"]

#: The policy id legacy decisions are attributed to.
LEGACY_POLICY_ID = "legacy-replication-rules"


class LegacyRulesEngine:
    """Decides images by legacy rules: the ``legacy`` fallback of :class:`FailoverEngine`."""

    def __init__(self, evaluator: LegacyEvaluator, rules: int) -> None:
        self._evaluator = evaluator
        self.rules = rules

    def decide(self, image: ImageMetadata) -> ReplicationDecision:
        targets = sorted(self._evaluator.targets(image.registry, image.repository, image.tag))
        actions = [
            DecisionAction(
                type="replicate",
                target_registry=registry,
                target_repo=repo,
                target_tag=tag,
                policy_ids=[LEGACY_POLICY_ID],
            )
            for registry, repo, tag in targets
        ]
        if not actions:
            return ReplicationDecision(
                should_replicate=False,
                reason="no legacy replication rule matches",
                metadata={"outcome": "no_match", "legacy_rules": self.rules},
            )
        listing = ", ".join(f"{r}/{p}:{t}" for r, p, t in targets)
        return ReplicationDecision(
            should_replicate=True,
            actions=actions,
            matched_policies=[LEGACY_POLICY_ID],
            reason=f"replicate to {listing} (legacy replication rules)",
            metadata={"outcome": "replicate", "legacy_rules": self.rules},
        )


def _has_rules(document: Any) -> bool:
    """Whether a config document has legacy rules (``rules`` or ``replication.rules``).

    Decided on the document's shape, so a config without rules is told apart
    from malformed rules without reading any error's text.
    """
    if not isinstance(document, dict):
        return False
    top = {snake(str(k)): v for k, v in document.items()}
    replication = top.get("replication")
    nested = isinstance(replication, dict) and any(snake(str(k)) == "rules" for k in replication)
    return "rules" in top or nested


def load_legacy_rules(config_path: Path | None) -> LegacyRulesEngine | None:
    """The ``replication.rules`` of a config file, or ``None`` when it has none.

    Raises :class:`migrate.core.errors.ConfigError` (with lines) for malformed rules.
    """
    if config_path is None:
        return None
    if not _has_rules(load_document(config_path)):
        return None
    found = read_legacy([config_path])
    if not found.rules:
        return None
    return LegacyRulesEngine(
        LegacyEvaluator(LegacyInput(rules=list(found.rules))), len(found.rules)
    )
