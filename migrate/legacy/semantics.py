"""The legacy replication semantics, evaluated directly in Python.

This is the reference the generated bundle is verified against, so it is
written from the legacy behaviour (docs/migration.md), not from the
translation: globs use the Go ``filepath.Match`` port
(:func:`migrate.patterns.gomatch.go_match`), never a regex.
"""

from __future__ import annotations

from collections import defaultdict

import re2

from migrate.legacy.model import LegacyInput, ReplicationRule, SyncConfig, SyncImage, TreeFilters
from migrate.patterns.gomatch import BadPattern, go_match

__all__ = [
    "LegacyEvaluator",
    "Target",
    "legacy_destination",
    "match_pattern",
    "split_location",
    "sync_selects_tag",
]

Target = tuple[str, str, str]  # (target_registry, target_repo, target_tag)


def match_pattern(pattern: str, value: str) -> bool:
    """Legacy ``MatchPattern``: exact equality without ``*``, else Go's filepath.Match."""
    if "*" not in pattern:
        return pattern == value
    try:
        return go_match(pattern, value)
    except BadPattern:
        return False


def legacy_destination(source: str, destination: str, repository: str) -> str:
    """Legacy ``GetDestinationRepository``."""
    if source == destination:
        return repository
    if "*" in source and "*" not in destination:
        return destination
    if source.count("*") == 1 and destination.count("*") == 1:
        prefix, suffix = source.split("*")
        fits = len(repository) >= len(prefix) + len(suffix)
        if fits and repository.startswith(prefix) and repository.endswith(suffix):
            middle = repository[len(prefix) : len(repository) - len(suffix)]
            return destination.replace("*", middle, 1)
    return destination


def sync_selects_tag(image: SyncImage, tag: str) -> bool:
    """Per-image tag selection (``limit``/``latest_n``/``semver_constraint`` are applied later)."""
    if image.all_tags:
        return True
    if not image.tags and not image.tag_regex:
        return bool(image.semver_constraint or image.latest_n)
    if tag in image.tags:
        return True
    return bool(image.tag_regex) and re2.search(image.tag_regex, tag) is not None


def split_location(location: str) -> tuple[str, str]:
    """``REGISTRY[/PREFIX]`` → (registry, prefix)."""
    registry, _, prefix = location.partition("/")
    return registry, prefix.strip("/")


class LegacyEvaluator:
    """The replicate targets legacy would produce for one image."""

    def __init__(self, legacy: LegacyInput) -> None:
        self.legacy = legacy
        self._exact: dict[tuple[str, str], list[ReplicationRule]] = defaultdict(list)
        self._glob: dict[tuple[str, str], list[ReplicationRule]] = defaultdict(list)
        for rule in legacy.rules:
            key = (rule.source_registry, rule.source_repository)
            if "*" in rule.source_repository:
                self._glob[(rule.source_registry, _literal_prefix(rule.source_repository))].append(
                    rule
                )
            else:
                self._exact[key].append(rule)
        self._images: dict[tuple[str, str], list[tuple[SyncConfig, SyncImage]]] = defaultdict(list)
        for sync in legacy.syncs:
            for image in sync.images:
                self._images[(sync.source_registry, image.repository)].append((sync, image))

    def rules_for(self, registry: str, repository: str) -> list[ReplicationRule]:
        """Rules whose registry and repository pattern match (in input order)."""
        found = list(self._exact.get((registry, repository), ()))
        for end in range(len(repository) + 1):
            for rule in self._glob.get((registry, repository[:end]), ()):
                if match_pattern(rule.source_repository, repository):
                    found.append(rule)
        return found

    def targets(self, registry: str, repository: str, tag: str) -> frozenset[Target]:
        out: set[Target] = set()
        for rule in self.rules_for(registry, repository):
            if rule.tag_filter and not match_pattern(rule.tag_filter, tag):
                continue
            repo = legacy_destination(
                rule.source_repository, rule.destination_repository, repository
            )
            out.add((rule.destination_registry, repo, tag))
        for sync, image in self._images.get((registry, repository), ()):
            if sync_selects_tag(image, tag):
                repo = image.destination_repository or repository
                out.add((sync.destination_registry, repo, image.destination_prefix + tag))
        for tree in self.legacy.trees:
            target = _tree_target(tree, registry, repository, tag)
            if target is not None:
                out.add(target)
        return frozenset(out)


def _tree_target(tree: TreeFilters, registry: str, repository: str, tag: str) -> Target | None:
    if not tree.source or not tree.destination:
        return None
    src_registry, src_prefix = split_location(tree.source)
    dst_registry, dst_prefix = split_location(tree.destination)
    if registry != src_registry:
        return None
    if src_prefix and not repository.startswith(src_prefix + "/"):
        return None
    if any(match_pattern(p, repository) for p in tree.exclude_repos):
        return None
    if any(match_pattern(p, tag) for p in tree.exclude_tags):
        return None
    if tree.include_tags and not any(match_pattern(p, tag) for p in tree.include_tags):
        return None
    relative = repository[len(src_prefix) + 1 :] if src_prefix else repository
    return dst_registry, f"{dst_prefix}/{relative}" if dst_prefix else relative, tag


def _literal_prefix(pattern: str) -> str:
    """The text before the first glob metacharacter: every match starts with it."""
    for i, char in enumerate(pattern):
        if char in "*?[\\":
            return pattern[:i]
    return pattern
