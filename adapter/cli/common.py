"""Helpers shared by the CLI commands: policy sources, the log level of the long-lived
commands (errors: migrate.core.exit_codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from migrate.core.cli_options import verbosity
from migrate.core.errors import BundleError

__all__ = ["effective_log_level", "is_bundle_path", "load_bundle", "log_level_option"]

#: ``--log-level`` of ``serve`` and ``worker`` (JSON log lines on stderr).
log_level_option = click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Least severe log line written; -v means debug and -q error, over this.",
)


def effective_log_level(log_level: str) -> str:
    """``--log-level``, unless -v (debug) or -q (error) was given."""
    return {-1: "error", 0: log_level}.get(verbosity(), "debug")


def is_bundle_path(path: Path) -> bool:
    """A built bundle: a ``.tar.gz`` file or a directory with a ``.manifest``."""
    return path.name.endswith(".tar.gz") or (path.is_dir() and (path / ".manifest").is_file())


def load_bundle(
    paths: tuple[Path, ...], *, generate_tests: bool = True, verification: Any = None
) -> Any:
    """A Bundle from one built bundle (its signature checked when ``verification``, a
    VerificationConfig, is given), or built in memory from policy sources."""
    from migrate.bundle.builder import BundleBuilder, read_bundle
    from migrate.policy.loader import load_policy_documents

    if len(paths) == 1 and is_bundle_path(paths[0]):
        return read_bundle(paths[0], verification)
    if any(is_bundle_path(p) for p in paths):
        raise BundleError("give either one built bundle or policy sources, not both")
    return BundleBuilder(generate_tests=generate_tests).build(load_policy_documents(list(paths)))
