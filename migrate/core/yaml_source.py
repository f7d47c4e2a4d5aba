"""YAML loading that remembers where every value came from.

Mappings load as :class:`LocatedDict` and sequences as :class:`LocatedList`;
both know the line of each of their entries, so an error found later (by the
schema or a semantic check) can name the line it came from. Duplicate keys,
which plain YAML silently overwrites, are errors naming both lines. Timestamps
stay strings. The one YAML loader of policies, legacy rules and the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from migrate.core.errors import Diagnostic, FreightlinerError, PolicyError
from migrate.core.limits import InputLimitError, check_yaml_text

__all__ = ["LocatedDict", "LocatedList", "line_of", "load_yaml"]


class LocatedDict(dict[str, Any]):
    """A mapping with the line of itself (``line``) and of each key (``lines``)."""

    line: int
    lines: dict[str, int]


class LocatedList(list[Any]):
    """A sequence with the line of itself and of each item."""

    line: int
    lines: list[int]


_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader (libyaml's parser when present) that keeps lines, rejects
    duplicate keys and keeps timestamps as text."""

    problems: list[Diagnostic]

    def construct_located_mapping(self, node: yaml.MappingNode) -> LocatedDict:
        result = LocatedDict()
        result.line = node.start_mark.line + 1
        result.lines = {}
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                first = result.lines[key]
                self.problems.append(
                    Diagnostic(
                        f"duplicate key {key!r} (first at line {first})", file=self.name, line=line
                    )
                )
                continue
            result[key] = self.construct_object(value_node, deep=True)
            result.lines[key] = line
        return result

    def construct_located_sequence(self, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_located_mapping
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_located_sequence
)
_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    yaml.SafeLoader.construct_yaml_str,
)


def load_yaml(
    text: str,
    filename: str,
    *,
    error: type[FreightlinerError] = PolicyError,
    syntax: str = "YAML syntax error",
) -> Any:
    """Parse one YAML document; syntax errors, duplicate keys and input past a limit
    (migrate.core.limits: size, depth, aliases, expanded size) raise ``error``.

    A syntax error is one diagnostic ``<syntax>: <parser's problem>`` at its line.
    """
    try:
        check_yaml_text(text)
    except InputLimitError as exc:
        raise error(exc.message, [Diagnostic(exc.message, file=filename, line=exc.line)]) from exc
    loader = _Loader(text)
    loader.name = filename
    loader.problems = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"{syntax}: {exc.problem or exc.context}"
        raise error(message, [Diagnostic(message, file=filename, line=line)]) from exc
    except yaml.YAMLError as exc:
        message = f"{syntax}: {exc}"
        raise error(message, [Diagnostic(message, file=filename)]) from exc
    finally:
        loader.dispose()
    if loader.problems:
        raise error("duplicate keys", loader.problems)
    return data


def line_of(root: Any, path: Sequence[str | int]) -> int | None:
    """The line of the value at ``path`` below ``root`` (the deepest one known)."""
    line: int | None = getattr(root, "line", None)
    node = root
    for step in path:
        if isinstance(node, LocatedDict) and isinstance(step, str) and step in node:
            line = node.lines.get(step, line)
            node = node[step]
        elif isinstance(node, LocatedList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.lines[step]
            node = node[step]
        else:
            break
    return line
