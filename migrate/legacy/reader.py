"""Legacy files → :class:`LegacyInput`, with one diagnostic per problem.

Errors (unreadable files, YAML errors, missing or mistyped fields, malformed
globs and regexes) raise :class:`ConfigError` carrying every problem found;
unknown keys are warnings (file and line) kept in ``LegacyInput.warnings``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import re2

from migrate.core.errors import ConfigError, Diagnostic
from migrate.legacy.model import (
    LegacyInput,
    Origin,
    ReplicationRule,
    ReplicationSettings,
    SyncConfig,
    SyncImage,
    TreeFilters,
)
from migrate.legacy.source import line_of, load_document, snake
from migrate.patterns.dialect import RegexRefused, check_regex
from migrate.patterns.glob import is_valid_glob
from migrate.policy.values import parse_cron

__all__ = ["read_legacy", "resolve_names"]

RULE_KEYS = {
    "source_registry",
    "source_repository",
    "destination_registry",
    "destination_repository",
    "tag_filter",
    "schedule",
}
SETTING_KEYS = {"max_concurrent_replications", "retry_count"}
SYNC_KEYS = {
    "source",
    "destination",
    "parallel",
    "skip_existing",
    "continue_on_error",
    "timeout",
    "images",
}
ENDPOINT_KEYS = {"registry", "auth", "insecure"}
IMAGE_KEYS = {
    "repository",
    "tags",
    "tag_regex",
    "all_tags",
    "semver_constraint",
    "latest_n",
    "destination_repository",
    "destination_prefix",
    "limit",
}
TREE_KEYS = {"exclude_repos", "exclude_tags", "include_tags", "source", "destination"}
TREE_IGNORED = {"workers", "dry_run", "force", "enable_checkpoint", "checkpoint_dir", "resume_id"}
CONFIG_IGNORED = {
    "log_level",
    "ecr",
    "gcr",
    "workers",
    "encryption",
    "secrets",
    "server",
    "checkpoint",
    "metrics",
    "policy",
    "registries",
    "replicate",
    "monitoring",
    "logging",
    "version",
}


class _Doc:
    """Field access on one mapping, recording problems against the file."""

    def __init__(self, file: str, problems: list[Diagnostic], warnings: list[Diagnostic]) -> None:
        self.file = file
        self.problems = problems
        self.warnings = warnings

    def fields(
        self,
        raw: Any,
        where: str,
        known: set[str],
        ignored: frozenset[str] | set[str] = frozenset(),
    ) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.error(f"expected a mapping, got {type(raw).__name__}", raw, where)
            return {}
        out: dict[str, Any] = {}
        for key, value in raw.items():
            name = snake(str(key))
            line = line_of(raw, str(key))
            if name in out:
                self.problems.append(
                    Diagnostic(f"duplicate key {key!r} (as {name!r})", self.file, line, field=where)
                )
            elif name in known:
                out[name] = value
            elif name not in ignored:
                self.warnings.append(
                    Diagnostic(f"unknown key {key!r} ignored", self.file, line, field=where)
                )
        out["__lines__"] = {snake(str(k)): line_of(raw, str(k)) for k in raw}
        out["__line__"] = line_of(raw)
        return out

    def error(self, message: str, raw: Any, where: str, line: int | None = None) -> None:
        self.problems.append(
            Diagnostic(message, self.file, line if line is not None else line_of(raw), field=where)
        )

    def string(self, data: dict[str, Any], key: str, where: str, required: bool = False) -> str:
        value = data.get(key)
        line = data["__lines__"].get(key, data["__line__"])
        if value is None:
            if required:
                self.error(f"'{key}' is required", None, where, data["__line__"])
            return ""
        if not isinstance(value, str):
            self.error(
                f"{key}: must be a string (quote it in YAML), got {value!r}", None, where, line
            )
            return ""
        return value

    def integer(self, data: dict[str, Any], key: str, where: str) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            line = data["__lines__"].get(key)
            self.error(f"{key}: must be an integer, got {value!r}", None, where, line)
            return None
        return value

    def boolean(self, data: dict[str, Any], key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.error(
                f"{key}: must be true or false, got {value!r}",
                None,
                where,
                data["__lines__"].get(key),
            )
            return False
        return value

    def strings(self, data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(
                f"{key}: must be a list of strings (quote each)",
                None,
                where,
                data["__lines__"].get(key),
            )
            return ()
        return tuple(value)

    def glob(self, pattern: str, data: dict[str, Any], key: str, where: str) -> None:
        if "*" in pattern and not is_valid_glob(pattern):
            line = data["__lines__"].get(key)
            self.error(
                f"{key}: malformed glob pattern {pattern!r} (Go: syntax error in pattern)",
                None,
                where,
                line,
            )

    def regex(self, pattern: str, data: dict[str, Any], key: str, where: str) -> None:
        try:
            re2.compile(pattern)
        except re2.error as exc:
            line = data["__lines__"].get(key)
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            self.error(
                f"{key}: invalid RE2 regular expression {pattern!r}: {reason}", None, where, line
            )
            return
        try:  # both engines must accept it and mean the same (migrate/patterns/dialect.py)
            check_regex(pattern)
        except RegexRefused as exc:
            line = data["__lines__"].get(key)
            self.error(
                f"{key}: regular expression {pattern!r} refused by {exc.engine}: {exc}",
                None,
                where,
                line,
            )


def _settings(doc: _Doc, raw: dict[str, Any], where: str) -> ReplicationSettings:
    return ReplicationSettings(
        max_concurrent_replications=doc.integer(raw, "max_concurrent_replications", where),
        retry_count=doc.integer(raw, "retry_count", where),
    )


def _rules(
    doc: _Doc, raw: Any, where: str, settings: ReplicationSettings, out: LegacyInput
) -> None:
    if not isinstance(raw, list):
        doc.error("'rules' must be a list", raw, where)
        return
    for i, item in enumerate(raw):
        label = f"{where}[{i}]"
        data = doc.fields(item, label, RULE_KEYS)
        if not data:
            continue
        rule = ReplicationRule(
            source_registry=doc.string(data, "source_registry", label, required=True),
            source_repository=doc.string(data, "source_repository", label, required=True),
            destination_registry=doc.string(data, "destination_registry", label, required=True),
            destination_repository=doc.string(data, "destination_repository", label, required=True),
            tag_filter=doc.string(data, "tag_filter", label),
            schedule=doc.string(data, "schedule", label),
            origin=Origin(doc.file, data["__line__"], label),
            settings=settings,
        )
        _check_schedule(doc, rule.schedule, data, label)
        out.rules.append(rule)


def _check_schedule(doc: _Doc, schedule: str, data: dict[str, Any], where: str) -> None:
    """Report a bad cron schedule with the rule's other problems (``@every``: later)."""
    if not schedule or schedule.strip().startswith("@every"):
        return
    try:
        parse_cron(schedule)
    except ValueError as exc:
        line = data["__lines__"].get("schedule", data["__line__"])
        doc.error(f"schedule {schedule!r}: {exc}", None, f"{where}: schedule", line)


def _check_filters(doc: _Doc, image: SyncImage, data: dict[str, Any], where: str) -> None:
    """pkg/sync/schema.go ``Validate``: exactly one tag filter per image (else legacy
    refuses the file)."""
    chosen = [
        name
        for name, present in (
            ("tags", bool(image.tags)),
            ("tag_regex", bool(image.tag_regex)),
            ("semver_constraint", bool(image.semver_constraint)),
            ("all_tags", image.all_tags),
            ("latest_n", image.latest_n is not None and image.latest_n > 0),
        )
        if present
    ]
    if not chosen:
        doc.error(
            "must specify at least one of: tags, tag_regex, semver_constraint, all_tags, or "
            "latest_n > 0 (legacy refuses this file)",
            None,
            where,
            data["__line__"],
        )
    elif len(chosen) > 1:
        doc.error(
            f"cannot specify multiple tag filters ({', '.join(chosen)}); legacy refuses this file",
            None,
            where,
            data["__line__"],
        )


def _endpoint(doc: _Doc, data: dict[str, Any], key: str) -> tuple[str, bool, bool]:
    raw = data.get(key)
    if raw is None:
        doc.error(f"'{key}' is required", None, "sync", data["__line__"])
        return "", False, False
    if isinstance(raw, str):
        return raw, False, False
    part = doc.fields(raw, key, ENDPOINT_KEYS)
    if not part:
        return "", False, False
    return (
        doc.string(part, "registry", key, required=True),
        doc.boolean(part, "insecure", key),
        "auth" in part,
    )


def _sync(doc: _Doc, data: dict[str, Any], out: LegacyInput) -> None:
    source, src_insecure, src_auth = _endpoint(doc, data, "source")
    destination, dst_insecure, dst_auth = _endpoint(doc, data, "destination")
    images: list[SyncImage] = []
    raw_images = data.get("images")
    if not isinstance(raw_images, list):
        doc.error("'images' must be a list", raw_images, "sync", data["__line__"])
        raw_images = []
    for i, item in enumerate(raw_images):
        label = f"images[{i}]"
        part = doc.fields(item, label, IMAGE_KEYS)
        if not part:
            continue
        image = SyncImage(
            repository=doc.string(part, "repository", label, required=True),
            origin=Origin(doc.file, part["__line__"], label),
            tags=doc.strings(part, "tags", label),
            tag_regex=doc.string(part, "tag_regex", label),
            all_tags=doc.boolean(part, "all_tags", label),
            semver_constraint=doc.string(part, "semver_constraint", label),
            latest_n=doc.integer(part, "latest_n", label),
            destination_repository=doc.string(part, "destination_repository", label),
            destination_prefix=doc.string(part, "destination_prefix", label),
            limit=doc.integer(part, "limit", label),
        )
        _check_filters(doc, image, part, label)
        images.append(image)
    timeout = data.get("timeout", "")
    out.syncs.append(
        SyncConfig(
            source_registry=source,
            destination_registry=destination,
            images=tuple(images),
            origin=Origin(doc.file, data["__line__"], "sync"),
            parallel=doc.integer(data, "parallel", "sync"),
            skip_existing=doc.boolean(data, "skip_existing", "sync"),
            continue_on_error=doc.boolean(data, "continue_on_error", "sync"),
            timeout=str(timeout) if timeout is not None else "",
            source_insecure=src_insecure,
            destination_insecure=dst_insecure,
            has_auth=src_auth or dst_auth,
        )
    )


def _tree(doc: _Doc, raw: Any, out: LegacyInput) -> None:
    data = doc.fields(raw, "treeReplicate", TREE_KEYS, TREE_IGNORED)
    if not data:
        return
    tree = TreeFilters(
        origin=Origin(doc.file, data["__line__"], "treeReplicate"),
        exclude_repos=doc.strings(data, "exclude_repos", "treeReplicate"),
        exclude_tags=doc.strings(data, "exclude_tags", "treeReplicate"),
        include_tags=doc.strings(data, "include_tags", "treeReplicate"),
        source=doc.string(data, "source", "treeReplicate"),
        destination=doc.string(data, "destination", "treeReplicate"),
    )
    if tree.exclude_repos or tree.exclude_tags or tree.include_tags:
        out.trees.append(tree)


def _document(doc: _Doc, data: Any, out: LegacyInput) -> None:
    known = RULE_KEYS | SETTING_KEYS | SYNC_KEYS | {"rules", "replication", "tree_replicate"}
    top = doc.fields(data, "", known, CONFIG_IGNORED - known)
    if not top:
        return
    found = False
    settings = _settings(doc, top, "")
    if "replication" in top:
        repl = doc.fields(top["replication"], "replication", {"rules"} | SETTING_KEYS)
        if repl and "rules" in repl:
            merged = ReplicationSettings(
                repl.get("max_concurrent_replications", settings.max_concurrent_replications),
                repl.get("retry_count", settings.retry_count),
            )
            _settings(doc, repl, "replication")
            _rules(doc, repl["rules"], "replication.rules", merged, out)
            found = True
    if "rules" in top:
        _rules(doc, top["rules"], "rules", settings, out)
        found = True
    if "images" in top or "source" in top:
        _sync(doc, top, out)
        found = True
    if "tree_replicate" in top:
        _tree(doc, top["tree_replicate"], out)
        found = True
    if not found:
        doc.error(
            "no legacy input found (expected 'rules', 'replication.rules', a sync config "
            "with 'images', or 'treeReplicate')",
            data,
            "",
        )


def read_legacy(paths: Iterable[Path]) -> LegacyInput:
    """Read every file; raise ConfigError listing every error (warnings are returned)."""
    out = LegacyInput()
    problems: list[Diagnostic] = []
    for path in paths:
        out.files.append(str(path))
        doc = _Doc(str(path), problems, out.warnings)
        try:
            data = load_document(path)
        except ConfigError as exc:
            problems.extend(exc.diagnostics)
            continue
        _document(doc, data, out)
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in legacy input", problems)
    out.warnings.sort(key=lambda d: (d.file or "", d.line or 0, d.message))
    return out


def resolve_names(
    legacy: LegacyInput, registries: dict[str, str], tree_source: str = "", tree_dest: str = ""
) -> LegacyInput:
    """Registry URLs/hosts of syncs → configured names; apply --tree-source/--tree-dest.

    Rules name registries already; sync configs usually give hosts
    (``registry-1.docker.io``): a host listed as ``--registry NAME=URL``
    becomes ``NAME``, any other value is kept as the name.
    """
    by_host: dict[str, str] = {}
    for name, url in registries.items():
        by_host[url.rstrip("/")] = name
        by_host[urlparse(url).netloc] = name

    def name_of(value: str) -> str:
        return by_host.get(value.rstrip("/"), by_host.get(urlparse(value).netloc or "\0", value))

    syncs = [
        replace(
            s,
            source_registry=name_of(s.source_registry),
            destination_registry=name_of(s.destination_registry),
        )
        for s in legacy.syncs
    ]
    trees = [
        replace(t, source=tree_source or t.source, destination=tree_dest or t.destination)
        for t in legacy.trees
    ]
    return LegacyInput(list(legacy.rules), syncs, trees, list(legacy.warnings), list(legacy.files))
