"""Legacy rules, sync images and tree filters → policy documents (plain dicts).

Each legacy item becomes one policy (two when a rule's destination depends on
whether the repository literally starts/ends with the source's prefix/suffix).
Everything without a per-image equivalent is carried as action
``parameters`` or listed in the report; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrate.core.errors import Diagnostic
from migrate.legacy.model import (
    LegacyInput,
    Origin,
    ReplicationRule,
    SyncConfig,
    SyncImage,
    TreeFilters,
)
from migrate.legacy.semantics import split_location, sync_filter_kind
from migrate.legacy.treematch import tree_regex
from migrate.patterns.destination import has_substitution
from migrate.patterns.dialect import RegexRefused, check_regex
from migrate.patterns.glob import escape_re2, is_valid_glob
from migrate.policy.semantics import legacy_destination_problem
from migrate.policy.values import parse_cron

__all__ = ["Conversion", "ConvertedPolicy", "ReportEntry", "convert_legacy", "template_text"]


@dataclass(frozen=True)
class ReportEntry:
    status: str  # "translated" | "attention" | "not translated"
    origin: Origin
    message: str


@dataclass
class ConvertedPolicy:
    policy: dict[str, Any]
    origin: Origin
    comment: str


@dataclass
class Conversion:
    policies: list[ConvertedPolicy] = field(default_factory=list)
    entries: list[ReportEntry] = field(default_factory=list)
    errors: list[ReportEntry] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    _once: set[str] = field(default_factory=set)

    def note(self, status: str, origin: Origin, message: str, once: bool = False) -> None:
        """Record a report entry; ``once`` keeps only the first of identical messages."""
        if once:
            if message in self._once:
                return
            self._once.add(message)
        self.entries.append(ReportEntry(status, origin, message))


def template_text(text: str) -> str:
    """``text`` as a literal template (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def _pattern_condition(ctype: str, pattern: str) -> dict[str, Any]:
    operator = "glob" if "*" in pattern else "equals"
    return {"type": ctype, "operator": operator, "value": pattern}


def _tree_condition(ctype: str, pattern: str) -> dict[str, Any]:
    """A tree filter with the tree replicator's own matcher (see treematch)."""
    return {"type": ctype, "operator": "matches", "value": tree_regex(pattern)}


def _schedule(value: str, origin: Origin, out: Conversion) -> str | None:
    if not value:
        return None
    if value.startswith("@every"):
        out.note(
            "attention", origin, f"schedule {value!r} (@every) has no cron equivalent: not carried"
        )
        return None
    try:
        parse_cron(value)
    except ValueError as exc:
        out.errors.append(ReportEntry("error", origin, f"schedule {value!r}: {exc}"))
        return None
    return value


def _quote(value: object) -> str:
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _malformed(rule: ReplicationRule) -> list[str]:
    """The rule's patterns that Go's filepath.Match rejects (MatchPattern: never matches)."""
    return [
        f"{name} {pattern!r}"
        for name, pattern in (
            ("source_repository", rule.source_repository),
            ("tag_filter", rule.tag_filter),
        )
        if "*" in pattern and not is_valid_glob(pattern)
    ]


def _rule(number: int, rule: ReplicationRule, out: Conversion, strict: bool) -> None:
    pid = f"legacy-rule-{number:04d}"
    src, dst = rule.source_repository, rule.destination_repository
    conditions: list[dict[str, Any]] = [
        {"type": "registry", "operator": "equals", "value": rule.source_registry},
    ]
    enabled = True
    bad = _malformed(rule)
    if bad:
        message = (
            f"malformed glob {', '.join(bad)} (Go: syntax error in pattern): this rule never "
            "matched in legacy"
        )
        if strict:
            out.errors.append(ReportEntry("error", rule.origin, message + " (--strict)"))
            return
        enabled = False
        out.warnings.append(
            Diagnostic(message, rule.origin.file, rule.origin.line, field=rule.origin.label)
        )
        out.note("attention", rule.origin, f"{message}; converted disabled")
    else:
        conditions.append(_pattern_condition("repository", src))
        if rule.tag_filter:
            conditions.append(_pattern_condition("tag", rule.tag_filter))
    action: dict[str, Any] = {"type": "replicate", "target_registry": rule.destination_registry}
    if rule.settings.retry_count is not None and rule.settings.retry_count >= 0:
        action["retry_policy"] = {"max_attempts": min(rule.settings.retry_count + 1, 100)}
    if rule.settings.max_concurrent_replications is not None:
        out.note(
            "attention",
            rule.origin,
            "MaxConcurrentReplications="
            f"{rule.settings.max_concurrent_replications} is a worker setting: configure the "
            "adapter's replication workers",
            once=True,
        )
    schedule = _schedule(rule.schedule, rule.origin, out)
    comment = (
        f"{rule.origin.render()}: {_quote(rule.source_registry)}/{_quote(src)} -> "
        f"{_quote(rule.destination_registry)}/{_quote(dst)}, tag_filter {_quote(rule.tag_filter)}, "
        f"schedule {_quote(rule.schedule)}"
    )
    if src == dst:
        action["target_repo"] = "{repository}"
    elif "*" in src and ("*" in dst or has_substitution(dst)):
        problem = legacy_destination_problem(src, dst)
        if problem and enabled:
            if strict:
                out.errors.append(
                    ReportEntry("error", rule.origin, f"destination: {problem} (--strict)")
                )
                return
            enabled = False
            out.warnings.append(
                Diagnostic(
                    f"destination: {problem}",
                    rule.origin.file,
                    rule.origin.line,
                    field=rule.origin.label,
                )
            )
            out.note("attention", rule.origin, f"destination: {problem}; converted disabled")
        if problem:
            action["target_repo"] = template_text(dst)
        else:
            action["target_repo"] = "{legacy}"
            action["legacy_destination"] = {"source": src, "destination": dst}
    else:
        action["target_repo"] = template_text(dst)
        if "*" in dst or has_substitution(dst):
            out.note(
                "attention",
                rule.origin,
                f"destination {dst!r} is used as written (legacy substitutes only when the "
                "source has '*')",
            )
    name = (
        f"Legacy rule {number}: {rule.source_registry}/{src} to {rule.destination_registry}/{dst}"
    )
    policy = _policy(pid, name, rule.origin, conditions, action, enabled=enabled, schedule=schedule)
    out.policies.append(ConvertedPolicy(policy, rule.origin, comment))
    if enabled:
        out.note("translated", rule.origin, f"rule -> {pid}")


def _policy(
    pid: str,
    name: str,
    origin: Origin,
    conditions: list[dict[str, Any]],
    action: dict[str, Any],
    *,
    enabled: bool = True,
    schedule: str | None = None,
) -> dict[str, Any]:
    """A converted policy (legacy rules have no priorities: all are 0)."""
    policy: dict[str, Any] = {
        "id": pid,
        "name": name,
        "description": f"Converted from {origin.render()}.",
        "enabled": enabled,
        "priority": 0,
    }
    if schedule is not None:
        policy["schedule"] = schedule
    policy["conditions"] = conditions
    policy["actions"] = [action]
    return policy


def _sync_image(
    number: int, sync: SyncConfig, image: SyncImage, out: Conversion, strict: bool
) -> None:
    """One image of a sync config: legacy NewTagFilter builds exactly one filter."""
    pid = f"legacy-sync-{number:04d}"
    conditions: list[dict[str, Any]] = [
        {"type": "registry", "operator": "equals", "value": sync.source_registry},
        {"type": "repository", "operator": "equals", "value": image.repository},
    ]
    kind = sync_filter_kind(image)
    enabled = True
    message = ""
    if kind == "skip":
        what = "tag_regex" if image.tag_regex else "semver_constraint"
        value = image.tag_regex or image.semver_constraint
        message = f"{what} {value!r} does not parse: legacy skips this image (never replicated)"
    elif kind == "tag_regex":
        try:
            check_regex(image.tag_regex)
        except RegexRefused as exc:  # Go compiles it, the embedded engine cannot run it alike
            message = (
                f"tag_regex {image.tag_regex!r} is refused by {exc.engine}: {exc}; legacy "
                "matched with it, the bundle cannot run it the same in both engines"
            )
            kind = "skip"
    if message:
        if strict:
            out.errors.append(ReportEntry("error", image.origin, message + " (--strict)"))
            return
        enabled = False
        out.warnings.append(
            Diagnostic(message, image.origin.file, image.origin.line, field=image.origin.label)
        )
        out.note("attention", image.origin, f"{message}; converted disabled")
    elif kind == "tags":
        conditions.append({"type": "tag", "operator": "in", "value": list(image.tags)})
    elif kind == "tag_regex":
        conditions.append({"type": "tag", "operator": "matches", "value": image.tag_regex})
    elif kind == "semver":
        conditions.append(
            {"type": "tag", "operator": "legacy_semver", "value": image.semver_constraint}
        )
    parameters: dict[str, str] = {}
    counts = [n for n in (image.limit if kind != "tags" else None, image.latest_n) if n and n > 0]
    if kind == "tags" and image.limit:
        out.note(
            "attention",
            image.origin,
            f"limit={image.limit} is not applied to listed tags by legacy: dropped",
        )
    for setting, count in (("limit", image.limit), ("latest_n", image.latest_n)):
        if count is not None and count <= 0:
            out.note(
                "attention", image.origin, f"{setting}={count} means no limit in legacy: dropped"
            )
    if counts:
        parameters["limit"] = str(min(counts))
        if kind == "semver":
            parameters["limit_order"] = "semver"
        out.note(
            "attention",
            image.origin,
            f"first {min(counts)} selected tags "
            f"({'newest version first' if kind == 'semver' else 'registry order'}): carried as "
            "parameters.limit for the adapter's sweep",
        )
    if sync.skip_existing:
        parameters["skip_existing"] = "true"
    action: dict[str, Any] = {
        "type": "replicate",
        "target_registry": sync.destination_registry,
        "target_repo": template_text(image.destination_repository)
        if image.destination_repository
        else "{repository}",
        "target_tag": template_text(image.destination_prefix) + "{tag}",
    }
    if parameters:
        action["parameters"] = dict(sorted(parameters.items()))
    name = (
        f"Legacy sync {number}: {sync.source_registry}/{image.repository} to "
        f"{sync.destination_registry}"
    )
    policy = _policy(pid, name, image.origin, conditions, action, enabled=enabled)
    comment = (
        f"{image.origin.render()}: {_quote(sync.source_registry)}/{_quote(image.repository)} -> "
        f"{_quote(sync.destination_registry)}, tags {list(image.tags)}, tag_regex "
        f"{_quote(image.tag_regex)}, semver_constraint {_quote(image.semver_constraint)}, "
        f"all_tags {image.all_tags}, latest_n {image.latest_n}, limit {image.limit}"
    )
    out.policies.append(ConvertedPolicy(policy, image.origin, comment))
    if enabled:
        out.note("translated", image.origin, f"sync image -> {pid}")


def _sync_settings(sync: SyncConfig, out: Conversion) -> None:
    if sync.parallel is not None:
        out.note(
            "attention", sync.origin, f"parallel={sync.parallel}: configure the adapter's workers"
        )
    if sync.timeout:
        out.note(
            "attention", sync.origin, f"timeout={sync.timeout}: configure the adapter's timeouts"
        )
    if sync.continue_on_error:
        out.note(
            "attention",
            sync.origin,
            "continue_on_error: the adapter continues after a failed image",
        )
    if sync.has_auth or sync.source_insecure or sync.destination_insecure:
        out.note(
            "attention",
            sync.origin,
            "auth/insecure settings belong in the adapter's registries config",
        )


def _tree(number: int, tree: TreeFilters, out: Conversion) -> None:
    if not tree.source or not tree.destination:
        out.note(
            "not translated",
            tree.origin,
            "treeReplicate filters need a source and destination "
            "(--tree-source/--tree-dest or treeReplicate.source/destination)",
        )
        return
    pid = f"legacy-tree-{number:04d}"
    src_registry, src_prefix = split_location(tree.source)
    dst_registry, dst_prefix = split_location(tree.destination)
    conditions: list[dict[str, Any]] = [
        {"type": "registry", "operator": "equals", "value": src_registry}
    ]
    if src_prefix:
        conditions.append(
            {
                "type": "repository",
                "operator": "matches",
                "value": f"^{escape_re2(src_prefix + '/')}",
            }
        )
    conditions += [{"not": _tree_condition("repository", p)} for p in tree.exclude_repos]
    conditions += [{"not": _tree_condition("tag", p)} for p in tree.exclude_tags]
    includes = [_tree_condition("tag", p) for p in tree.include_tags]
    if len(includes) == 1:
        conditions.append(includes[0])
    elif includes:
        conditions.append({"any": includes})
    head = template_text(dst_prefix + "/") if dst_prefix else ""
    action: dict[str, Any] = {"type": "replicate", "target_registry": dst_registry}
    if src_prefix:
        action.update(target_repo=head + "{match}", match_prefix=src_prefix + "/")
    else:
        action["target_repo"] = head + "{repository}"
    name = f"Legacy tree replication {number}: {tree.source} to {tree.destination}"
    policy = _policy(pid, name, tree.origin, conditions, action)
    comment = (
        f"{tree.origin.render()}: {tree.source} -> {tree.destination}, excludeRepos "
        f"{list(tree.exclude_repos)}, excludeTags {list(tree.exclude_tags)}, includeTags "
        f"{list(tree.include_tags)}"
    )
    out.policies.append(ConvertedPolicy(policy, tree.origin, comment))
    out.note("translated", tree.origin, f"tree filters -> {pid}")


def convert_legacy(legacy: LegacyInput, strict: bool = False) -> Conversion:
    """Translate everything; ``Conversion.errors`` lists what makes the input unusable.

    What legacy accepted but never acted on (a malformed glob, an unparsable
    tag_regex or semver_constraint) becomes a disabled policy with a warning;
    ``strict`` makes it an error instead.
    """
    out = Conversion()
    for number, rule in enumerate(legacy.rules, start=1):
        _rule(number, rule, out, strict)
    number = 0
    for sync in legacy.syncs:
        _sync_settings(sync, out)
        for image in sync.images:
            number += 1
            _sync_image(number, sync, image, out, strict)
    for number, tree in enumerate(legacy.trees, start=1):
        _tree(number, tree, out)
    return out
