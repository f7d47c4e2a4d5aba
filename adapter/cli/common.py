"""Helpers shared by the CLI commands: error printing and policy sources."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from adapter.cli.exit_codes import ExitCode
from adapter.errors import (
    AuthenticationError,
    BundleError,
    ConfigError,
    EngineUnavailable,
    FreightlinerError,
    PolicyError,
    RegistryError,
)

__all__ = ["exit_on_error", "is_bundle_path", "load_bundle"]

F = TypeVar("F", bound=Callable[..., Any])


def _code_for(exc: FreightlinerError) -> ExitCode:
    if isinstance(exc, PolicyError | ConfigError | BundleError):
        return ExitCode.INVALID_INPUT
    if isinstance(exc, EngineUnavailable | AuthenticationError | RegistryError):
        return ExitCode.UNAVAILABLE
    return ExitCode.ERROR


def exit_on_error(func: F) -> F:
    """Print a FreightlinerError as one line per problem on stderr and exit with its code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FreightlinerError as exc:
            for line in exc.lines():
                click.echo(f"error: {line}", err=True)
            sys.exit(int(_code_for(exc)))

    return wrapper  # type: ignore[return-value]


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
