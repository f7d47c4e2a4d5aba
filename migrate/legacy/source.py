"""Reading legacy YAML/JSON with line numbers, and normalising key spellings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from adapter.errors import ConfigError, Diagnostic
from migrate.limits import InputLimitError, check_json_text, check_source_size, check_yaml_text

__all__ = ["LocDict", "LocList", "line_of", "load_document", "snake"]


class LocDict(dict[str, Any]):
    """A mapping that remembers its line and the line of each key."""

    line: int | None = None
    key_lines: dict[str, int]


class LocList(list[Any]):
    line: int | None = None


class _Loader(yaml.SafeLoader):
    pass


def _map(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    out = LocDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[str(key)] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _seq(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList(loader.construct_sequence(node, deep=True))
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _seq)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(key: str) -> str:
    """``SourceRepository``/``sourceRepository``/``source_repository`` → ``source_repository``."""
    return _CAMEL.sub("_", key).replace("-", "_").lower()


def line_of(value: Any, key: str | None = None) -> int | None:
    if isinstance(value, LocDict) and key is not None and key in value.key_lines:
        return value.key_lines[key]
    return getattr(value, "line", None)


def load_document(path: Path) -> Any:
    """The parsed document (mappings as :class:`LocDict`); ConfigError with one line on failure."""
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
        ) from None
    try:
        check_yaml_text(text)  # limits first: the parsers below recurse per level
        if path.suffix.lower() == ".json":
            check_json_text(text)
    except InputLimitError as exc:
        raise ConfigError(
            exc.message, [Diagnostic(exc.message, file=name, line=exc.line)]
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if path.suffix.lower() == ".json":
            try:
                return json.loads(text)
            except json.JSONDecodeError as jexc:
                raise ConfigError(
                    "invalid JSON",
                    [Diagnostic(f"invalid JSON: {jexc.msg}", file=name, line=jexc.lineno)],
                ) from None
        raise ConfigError(
            "invalid YAML", [Diagnostic(f"invalid YAML: {problem}", file=name, line=line)]
        ) from None
