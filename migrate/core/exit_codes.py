"""The one exit-code table and error printer of both commands (docs/cli.md).

``freightliner-policy`` and ``freightliner-migrate`` map a
:class:`~migrate.core.errors.FreightlinerError` to a code with
:func:`exit_code_for` and print it with :func:`exit_on_error`: one
``error: ...`` line per problem on stderr.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

import click

from migrate.core.errors import (
    AuthenticationError,
    BundleError,
    ConfigError,
    EngineError,
    EngineUnavailable,
    FreightlinerError,
    PolicyError,
    RegistryError,
)

__all__ = ["ExitCode", "exit_code_for", "exit_on_error", "print_error"]

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an unexpected failure
    USAGE = 2  # bad command line (click's own code)
    INVALID_INPUT = 3  # malformed policy, legacy rule, config or image file
    TEST_FAILURE = 4  # policy tests failed / migration mismatches found
    BLOCKED = 5  # the decision blocks the image (or any image of a sweep)
    UNAVAILABLE = 6  # decision engine or registry unreachable, credentials rejected
    PARTIAL = 7  # some replications of a sweep failed
    ENGINE_ERROR = 8  # the decision engine failed to evaluate (an error, undefined decision)
    TOO_MANY_CANDIDATES = 9  # policy build/validate --max-candidates: worst case above it
    INTERRUPTED = 130  # SIGINT/SIGTERM: no new copy started, copies in flight finished


def exit_code_for(exc: FreightlinerError) -> ExitCode:
    """The exit code of an error that ends a command."""
    if isinstance(exc, PolicyError | ConfigError | BundleError):
        return ExitCode.INVALID_INPUT
    if isinstance(exc, EngineUnavailable | AuthenticationError | RegistryError):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, EngineError):
        return ExitCode.ENGINE_ERROR
    return ExitCode.ERROR


def print_error(exc: FreightlinerError) -> None:
    """One ``error: ...`` line per problem on stderr."""
    for line in exc.lines():
        click.echo(f"error: {line}", err=True)


def exit_on_error(func: F) -> F:
    """Print a FreightlinerError (:func:`print_error`) and exit with :func:`exit_code_for`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FreightlinerError as exc:
            print_error(exc)
            sys.exit(int(exit_code_for(exc)))
        except KeyboardInterrupt:  # Ctrl-C outside a run's own handling (e.g. while loading)
            click.echo("interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))

    return wrapper  # type: ignore[return-value]
