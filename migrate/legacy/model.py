"""The legacy inputs, as read from replication rules, sync configs and
Freightliner ``config.yaml`` tree-replication filters."""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.core.errors import Diagnostic

__all__ = [
    "LegacyInput",
    "Origin",
    "ReplicationRule",
    "ReplicationSettings",
    "SyncConfig",
    "SyncImage",
    "TreeFilters",
]


@dataclass(frozen=True)
class Origin:
    """Where a legacy item was read: file, line, and a human label (``rules[3]``)."""

    file: str
    line: int | None
    label: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where} ({self.label})"


@dataclass(frozen=True)
class ReplicationSettings:
    max_concurrent_replications: int | None = None
    retry_count: int | None = None


@dataclass(frozen=True)
class ReplicationRule:
    source_registry: str
    source_repository: str
    destination_registry: str
    destination_repository: str
    tag_filter: str
    schedule: str
    origin: Origin
    settings: ReplicationSettings = ReplicationSettings()


@dataclass(frozen=True)
class SyncImage:
    repository: str
    origin: Origin
    tags: tuple[str, ...] = ()
    tag_regex: str = ""
    all_tags: bool = False
    semver_constraint: str = ""
    latest_n: int | None = None
    destination_repository: str = ""
    destination_prefix: str = ""
    limit: int | None = None


@dataclass(frozen=True)
class SyncConfig:
    source_registry: str
    destination_registry: str
    images: tuple[SyncImage, ...]
    origin: Origin
    parallel: int | None = None
    skip_existing: bool = False
    continue_on_error: bool = False
    timeout: str = ""
    source_insecure: bool = False
    destination_insecure: bool = False
    has_auth: bool = False


@dataclass(frozen=True)
class TreeFilters:
    """``treeReplicate`` filters; source/destination are ``REGISTRY[/PREFIX]``."""

    origin: Origin
    exclude_repos: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    include_tags: tuple[str, ...] = ()
    source: str = ""
    destination: str = ""


@dataclass
class LegacyInput:
    """Everything read from the legacy files, plus the non-fatal problems found."""

    rules: list[ReplicationRule] = field(default_factory=list)
    syncs: list[SyncConfig] = field(default_factory=list)
    trees: list[TreeFilters] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
