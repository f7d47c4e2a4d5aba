"""The one exit-code table and error printer of both commands (docs/cli.md).

``freightliner-policy`` and ``freightliner-migrate`` map a
:class:`~migrate.core.errors.FreightlinerError` to a code with
:func:`exit_code_for` and print it with :func:`exit_on_error`: one
``error: ...`` line per problem on stderr, or, when the command runs with
``--output json``, one JSON object on stdout and nothing on stderr
(:func:`error_document`).
"""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

import click

from migrate.core.errors import (
    AuthenticationError,
    BundleError,
    ConfigError,
    Diagnostic,
    EngineError,
    EngineUnavailable,
    FreightlinerError,
    ImageNotFound,
    PolicyError,
    RegistryError,
)

__all__ = [
    "JSON_ERRORS",
    "ExitCode",
    "error_document",
    "exit_code_for",
    "exit_on_error",
    "json_errors_wanted",
    "print_error",
    "print_json_error",
]

F = TypeVar("F", bound=Callable[..., Any])

#: ``click.Context.meta`` key: the command runs with ``--output json`` (errors as JSON).
JSON_ERRORS = "freightliner.json_errors"


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an unexpected failure
    USAGE = 2  # bad command line (click's own code)
    INVALID_INPUT = 3  # malformed policy, legacy rule, config or image file; a missing image
    TEST_FAILURE = 4  # policy tests failed / migration mismatches / rules not translated
    BLOCKED = 5  # the decision blocks the image (or any image of a sweep)
    UNAVAILABLE = 6  # decision engine or registry unreachable, credentials rejected
    PARTIAL = 7  # some replications of a sweep failed
    ENGINE_ERROR = 8  # the decision engine failed to evaluate (an error, undefined decision)
    TOO_MANY_CANDIDATES = 9  # policy build/validate --max-candidates: worst case above it
    INTERRUPTED = 130  # SIGINT/SIGTERM: no new copy started, copies in flight finished


def exit_code_for(exc: FreightlinerError) -> ExitCode:
    """The exit code of an error that ends a command."""
    if isinstance(exc, PolicyError | ConfigError | BundleError | ImageNotFound):
        return ExitCode.INVALID_INPUT
    if isinstance(exc, EngineUnavailable | AuthenticationError | RegistryError):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, EngineError):
        return ExitCode.ENGINE_ERROR
    return ExitCode.ERROR


def _problem(diagnostic: Diagnostic) -> dict[str, Any]:
    fields = {
        "file": diagnostic.file,
        "line": diagnostic.line,
        "policy_id": diagnostic.policy_id,
        "field": diagnostic.field,
        "message": diagnostic.message,
    }
    return {k: v for k, v in fields.items() if v is not None}


def error_document(message: str, code: ExitCode, problems: list[Diagnostic]) -> dict[str, Any]:
    """The one JSON error object: ``{"error": {"code", "exit_code", "message", "problems"}}``.

    ``code`` is the exit code's name in lower case (``invalid_input``, ``unavailable``, ...);
    ``problems`` holds one object per located problem (``file``, ``line``, ``policy_id``,
    ``field`` when known, and ``message``)."""
    return {
        "error": {
            "code": code.name.lower(),
            "exit_code": int(code),
            "message": message,
            "problems": [_problem(d) for d in problems],
        }
    }


def print_json_error(message: str, code: ExitCode, problems: list[Diagnostic]) -> None:
    """:func:`error_document` as one line on stdout."""
    document = error_document(message, code, problems)
    click.echo(json.dumps(document, sort_keys=True, ensure_ascii=False))


def print_error(exc: FreightlinerError, *, as_json: bool = False) -> None:
    """One ``error: ...`` line per problem on stderr, or the JSON object on stdout."""
    if as_json:
        print_json_error(exc.message, exit_code_for(exc), exc.diagnostics)
        return
    for line in exc.lines():
        click.echo(f"error: {line}", err=True)


def json_errors_wanted() -> bool:
    """The running command was given ``--output json``."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().meta.get(JSON_ERRORS))


def exit_on_error(func: F) -> F:
    """Print a FreightlinerError (:func:`print_error`) and exit with :func:`exit_code_for`.

    Under ``--output json`` a usage error raised by the command (a bad reference, a bad
    ``--opa-url``) and an unexpected exception print the JSON object too (the traceback of
    an unexpected exception still goes to stderr: it is a bug to report)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FreightlinerError as exc:
            print_error(exc, as_json=json_errors_wanted())
            sys.exit(int(exit_code_for(exc)))
        except click.UsageError as exc:
            if not json_errors_wanted():
                raise
            print_json_error(exc.format_message(), ExitCode.USAGE, [])
            sys.exit(int(ExitCode.USAGE))
        except KeyboardInterrupt:  # Ctrl-C outside a run's own handling (e.g. while loading)
            if json_errors_wanted():
                print_json_error("interrupted", ExitCode.INTERRUPTED, [])
            else:
                click.echo("interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except Exception as exc:
            if not json_errors_wanted():
                raise
            traceback.print_exc(file=sys.stderr)
            print_json_error(f"unexpected error: {exc!r}", ExitCode.ERROR, [])
            sys.exit(int(ExitCode.ERROR))

    return wrapper  # type: ignore[return-value]
