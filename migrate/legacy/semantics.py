"""The legacy replication semantics, evaluated directly in Python.

This is the reference the generated bundle is verified against, so it is
written from the legacy Go source (hemzaz/freightliner), not from the
translation:

* rules: ``MatchPattern``/``ShouldReplicate`` (pkg/replication/rules.go) with
  the Go ``filepath.Match`` port (:func:`migrate.patterns.gomatch.go_match`),
  and ``GetDestinationRepository`` (:mod:`migrate.patterns.destination`);
* sync images: ``NewTagFilter``/``Filter`` (pkg/sync/filters.go): exactly one
  filter applies, in the order tags, tag_regex, semver_constraint, all_tags,
  latest_n > 0; an invalid tag_regex or semver constraint makes ``resolveTags``
  fail and cmd/sync.go skip the image; the semver dialect is
  :mod:`migrate.patterns.gosemver`;
* tree filters: the tree replicator's ``patternCache`` (:mod:`migrate.legacy.treematch`).

``limit`` and ``latest_n`` are set-based (they pick among the tags of a
repository) and are checked by :func:`sync_select_tags`, not per image.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import re2

from migrate.legacy.model import LegacyInput, ReplicationRule, SyncConfig, SyncImage, TreeFilters
from migrate.legacy.treematch import tree_match
from migrate.patterns.destination import legacy_destination
from migrate.patterns.dialect import go_refusal
from migrate.patterns.gomatch import BadPattern, go_match
from migrate.patterns.gosemver import (
    InvalidConstraint,
    new_constraint,
    semver_filter,
    semver_selects,
)

__all__ = [
    "LegacyEvaluator",
    "Target",
    "legacy_destination",
    "match_pattern",
    "split_location",
    "sync_filter_kind",
    "sync_select_tags",
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


_constraint = lru_cache(maxsize=4096)(new_constraint)


def sync_filter_kind(image: SyncImage) -> str:
    """Which filter ``NewTagFilter`` builds: tags, tag_regex, semver, all_tags, latest_n, none;
    ``skip`` when it fails (invalid regex or constraint: the image is skipped)."""
    if image.tags:
        return "tags"
    if image.tag_regex:
        if go_refusal(image.tag_regex) is not None:
            return "skip"  # regexp.Compile fails: NewTagFilter errors, the image is skipped
        return "tag_regex"
    if image.semver_constraint:
        try:
            _constraint(image.semver_constraint)
        except InvalidConstraint:
            return "skip"
        return "semver"
    if image.all_tags:
        return "all_tags"
    if image.latest_n is not None and image.latest_n > 0:
        return "latest_n"
    return "none"


def sync_selects_tag(image: SyncImage, tag: str) -> bool:
    """Per-tag selection of ``TagFilter.Filter`` (``limit``/``latest_n`` counts: see below)."""
    kind = sync_filter_kind(image)
    if kind == "tags":
        return tag in image.tags
    if kind == "tag_regex":
        return re2.search(image.tag_regex, tag) is not None
    if kind == "semver":
        return semver_selects(_constraint(image.semver_constraint), tag)
    return kind in ("all_tags", "latest_n")


def sync_select_tags(image: SyncImage, registry_tags: list[str]) -> list[str]:
    """The tags ``freightliner sync`` replicates for one image, in its order.

    cmd/sync.go ``resolveTags``: listed ``tags`` are returned as written (no
    registry listing, no ``limit``); otherwise ``Filter`` over the registry's
    tags (semver: newest first), then ``ApplyLimit`` when ``limit > 0``; then
    ``buildSyncTasks`` keeps the first ``latest_n`` when ``latest_n > 0``.
    """
    kind = sync_filter_kind(image)
    if kind in ("skip", "none"):
        return []
    if kind == "tags":
        tags = list(image.tags)
    else:
        if kind == "semver":
            tags = semver_filter(image.semver_constraint, registry_tags)
        else:
            tags = [t for t in registry_tags if sync_selects_tag(image, t)]
        if image.limit is not None and image.limit > 0:
            tags = tags[: image.limit]
    if image.latest_n is not None and image.latest_n > 0:
        tags = tags[: image.latest_n]
    return tags


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
    if any(tree_match(p, repository) for p in tree.exclude_repos):
        return None
    if any(tree_match(p, tag) for p in tree.exclude_tags):
        return None
    if tree.include_tags and not any(tree_match(p, tag) for p in tree.include_tags):
        return None
    relative = repository[len(src_prefix) + 1 :] if src_prefix else repository
    return dst_registry, f"{dst_prefix}/{relative}" if dst_prefix else relative, tag


def _literal_prefix(pattern: str) -> str:
    """The text before the first glob metacharacter: every match starts with it."""
    for i, char in enumerate(pattern):
        if char in "*?[\\":
            return pattern[:i]
    return pattern
