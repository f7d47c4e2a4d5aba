"""The options every command of both entry points shares, and the one logging setup.

``-q/--quiet``, ``-v/--verbose`` (repeatable) and ``--log-format text|json`` are
added to every command of a click group by :func:`add_common_options` (one
option set, applied in one place); their values configure logging through
:func:`configure_logging` before the command runs and are kept in the root
context's ``meta`` (:func:`verbosity`). :func:`run` starts a group so that
usage errors found while parsing print the JSON error object too when the
command line asks for ``--output json`` (docs/cli.md).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from migrate.core.exit_codes import JSON_ERRORS, ExitCode, print_json_error
from migrate.core.fast_exit import exit_now, skip_teardown, teardown_skipped
from migrate.core.lazy_commands import LazyGroup

__all__ = [
    "COMMON_ENVIRONMENT",
    "JsonLogFormatter",
    "TextLogFormatter",
    "add_common_options",
    "configure_logging",
    "log_format",
    "run",
    "verbosity",
]

_VERBOSITY = "freightliner.verbosity"
_LOG_FORMAT = "freightliner.log_format"
_MARK = "_freightliner_common_options"
_OURS = ("quiet", "verbose", "log_format")

#: Environment variables read by both commands (shown in the root --help).
COMMON_ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("FREIGHTLINER_LOG_FORMAT", "default of --log-format (text or json)"),
)


class TextLogFormatter(logging.Formatter):
    """``progress: ...`` for progress lines, ``<level>: message`` for the rest (the CLI's own
    ``warning:``/``error:`` style); ``-vv`` adds the logger's name."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "freightliner.progress":
            text = f"progress: {record.getMessage()}"
        else:
            name = f" [{record.name}]" if record.levelno < logging.INFO else ""
            text = f"{record.levelname.lower()}{name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time (RFC 3339, UTC), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        when = _dt.datetime.fromtimestamp(record.created, tz=_dt.UTC)
        document: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, sort_keys=True)


def configure_logging(level: int, fmt: str, *, library_logs: bool = True) -> None:
    """Log records of ``freightliner.*`` on stderr, as text or JSON lines.

    ``level``: -1 quiet (errors only, no progress), 0 warnings (default), 1 info,
    2 debug. ``freightliner.progress`` (the progress lines of long work) logs at info
    unless quiet. ``library_logs=False``: at level 0 the other ``freightliner.*``
    records are dropped (commands that print every outcome themselves)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if fmt == "json" else TextLogFormatter())
    logger = logging.getLogger("freightliner")
    logger.handlers = [handler]
    logger.propagate = False
    threshold = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(level, 2)), logging.DEBUG
    )
    if level == 0 and not library_logs:
        threshold = logging.CRITICAL + 1
    logger.setLevel(threshold)
    progress = logging.getLogger("freightliner.progress")
    progress.setLevel(logging.ERROR if level < 0 else logging.INFO)


def verbosity() -> int:
    """-1 with ``-q``, 0 by default, the count of ``-v`` otherwise (0 outside a command)."""
    ctx = click.get_current_context(silent=True)
    value = ctx.find_root().meta.get(_VERBOSITY, 0) if ctx is not None else 0
    return int(value)


def log_format() -> str:
    """``text`` or ``json``: the running command's ``--log-format``."""
    ctx = click.get_current_context(silent=True)
    return str(ctx.find_root().meta.get(_LOG_FORMAT, "text")) if ctx is not None else "text"


def _params() -> list[click.Parameter]:
    return [
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            help="Errors only: no progress, no log lines below error.",
        ),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            help="More log lines on stderr: -v info, -vv debug.",
        ),
        click.Option(
            ["--log-format"],
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            envvar="FREIGHTLINER_LOG_FORMAT",
            help="Log lines on stderr as text or as one JSON object per line.",
        ),
    ]


def _wrap(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet = bool(kwargs.pop("quiet", False))
        verbose = int(kwargs.pop("verbose", 0) or 0)
        fmt = str(kwargs.pop("log_format", "text") or "text")
        level = -1 if quiet else verbose
        root = click.get_current_context().find_root()
        root.meta[_VERBOSITY] = level
        root.meta[_LOG_FORMAT] = fmt
        root.meta[JSON_ERRORS] = kwargs.get("output") == "json"
        configure_logging(level, fmt)
        return callback(*args, **kwargs)

    return wrapper


def add_common_options(group: click.Group) -> click.Group:
    """Give every command under ``group`` (recursively) the shared options, once each
    (the subcommands of a :class:`~migrate.core.lazy_commands.LazyGroup` when imported)."""
    if isinstance(group, LazyGroup):
        group.on_load(_with_common_options)
        commands = list(group.loaded_commands().values())
    else:
        commands = list(group.commands.values())
    for command in commands:
        _with_common_options(command)
    return group


def _with_common_options(command: click.Command) -> None:
    if isinstance(command, click.Group):
        add_common_options(command)
        return
    if getattr(command, _MARK, False) or command.callback is None:
        return
    taken = {name for p in command.params for name in p.opts}
    clash = taken & {"-q", "--quiet", "-v", "--verbose", "--log-format"}
    if clash:
        raise RuntimeError(f"command {command.name!r} defines {sorted(clash)} itself")
    command.params.extend(_params())
    command.callback = _wrap(command.callback)
    setattr(command, _MARK, True)


def _json_requested(args: Sequence[str]) -> bool:
    for i, arg in enumerate(args):
        if arg == "--output=json" or (arg == "--output" and args[i + 1 : i + 2] == ["json"]):
            return True
    return False


def run(group: click.Group, prog_name: str, obj: Any, args: Sequence[str] | None = None) -> None:
    """``group`` as a program: click's own handling, except that a usage error found while
    parsing prints the JSON error object (stdout, exit 2) when ``--output json`` was given."""
    argv = list(sys.argv[1:] if args is None else args)
    skip_teardown(False)
    try:
        result = group.main(argv, prog_name=prog_name, obj=obj, standalone_mode=False)
    except click.ClickException as exc:
        if _json_requested(argv):
            code = ExitCode.USAGE if exc.exit_code == 2 else ExitCode.ERROR
            print_json_error(exc.format_message(), code, [])
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    status = result if isinstance(result, int) else 0
    if teardown_skipped():  # the command is done and wrote everything (fast_exit.py)
        exit_now(status)
    sys.exit(status)
