"""Reading legacy YAML/JSON with line numbers, and normalising key spellings.

Parsing is the project's one line-tracking loader
(:mod:`migrate.core.yaml_source`): duplicate keys are errors here too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from migrate.core.errors import ConfigError, Diagnostic
from migrate.core.limits import (
    InputLimitError,
    check_json_text,
    check_source_size,
    check_yaml_text,
)
from migrate.core.yaml_source import LocatedDict, load_yaml

__all__ = ["line_of", "load_document", "snake"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(key: str) -> str:
    """``SourceRepository``/``sourceRepository``/``source_repository`` → ``source_repository``."""
    return _CAMEL.sub("_", key).replace("-", "_").lower()


def line_of(value: Any, key: str | None = None) -> int | None:
    """The line of ``value[key]`` (or of ``value`` itself) when it was read from YAML."""
    if isinstance(value, LocatedDict) and key is not None and key in value.lines:
        return value.lines[key]
    return getattr(value, "line", None)


def load_document(path: Path) -> Any:
    """The parsed document (mappings as LocatedDict); ConfigError with one line on failure."""
    name = str(path)
    try:
        check_source_size(path.stat().st_size)  # before reading it into memory
        text = path.read_text(encoding="utf-8")
    except InputLimitError as exc:
        raise ConfigError(exc.message, [Diagnostic(exc.message, file=name)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            "unreadable", [Diagnostic(f"cannot read file: {reason}", file=name)]
        ) from exc
    try:
        check_yaml_text(text)  # limits first: the parsers below recurse per level
        if path.suffix.lower() == ".json":
            check_json_text(text)
    except InputLimitError as exc:
        raise ConfigError(exc.message, [Diagnostic(exc.message, file=name, line=exc.line)]) from exc
    try:
        return load_yaml(text, name, error=ConfigError, syntax="invalid YAML")
    except ConfigError:
        if path.suffix.lower() != ".json":
            raise
    # JSON that YAML does not take (tabs, say): JSON's own parser and message.
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "invalid JSON",
            [Diagnostic(f"invalid JSON: {exc.msg}", file=name, line=exc.lineno)],
        ) from exc
