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
from migrate.core.limits import (
    MAX_SOURCE_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    InputLimitError,
    check_yaml_text,
)

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


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAGS = (None, yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG)
_SEQ_TAGS = (None, yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG)
#: Resolved tags a plain scalar may not have in the one-pass path (flatten_mapping's).
_SPECIAL_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})
_NO_KEY = object()


class _Unusual(Exception):
    """The one-pass path met something it leaves to the general path."""


def _load_plain(text: str, filename: str) -> Any:
    """One pass over libyaml's events that checks the limits and builds the values
    (:func:`_load_plain_counted`'s value)."""
    return _load_plain_counted(text, filename)[0]


def _load_plain_counted(
    text: str, filename: str, max_depth: int = MAX_YAML_DEPTH
) -> tuple[Any, int]:
    """One pass over libyaml's events that checks the limits and builds the values;
    (the value, its number of nodes). ``max_depth``: the nesting allowed (the limit, or
    less for a part of a document: :mod:`migrate.core.yaml_split`).

    The common case (a valid, single document without anchors, aliases, tags
    other than ``!!str``/``!!map``/``!!seq``, merge keys or duplicate keys,
    within the limits) gives exactly what the general path gives (the limit
    scan, then compose and construct: three passes, most of a large build's
    loading time). Anything else, and any error, raises :class:`_Unusual`, and
    the general path decides (with its messages and lines).
    """
    if len(text) * 4 > MAX_SOURCE_BYTES and len(text.encode("utf-8", "surrogatepass")) > (
        MAX_SOURCE_BYTES
    ):
        raise _Unusual
    loader = _Loader(text)
    loader.name = filename
    loader.problems = []
    get_event = loader.get_event
    resolve = loader.resolve
    construct = loader.construct_object
    plain: dict[str, Any] = {}  # plain scalar text -> its value (implicit tags are immutable)
    scalar_event, mapping_end = yaml.ScalarEvent, yaml.MappingEndEvent
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    sequence_end = yaml.SequenceEndEvent
    # one frame per open collection: [value, is_mapping, pending key, pending key's line]
    stack: list[list[Any]] = []
    nodes = 0
    root: Any = None
    try:
        if type(get_event()) is not yaml.StreamStartEvent:
            raise _Unusual
        event = get_event()
        if type(event) is yaml.StreamEndEvent:
            return None, 0
        if type(event) is not yaml.DocumentStartEvent:
            raise _Unusual
        while True:
            event = get_event()
            kind = type(event)
            if kind is scalar_event:
                if event.anchor is not None:
                    raise _Unusual
                tag = event.tag
                if tag is None:
                    if event.implicit[0]:
                        raw = event.value
                        try:
                            value = plain[raw]
                        except KeyError:
                            tag = resolve(yaml.ScalarNode, raw, (True, False))
                            if tag == _STR_TAG:
                                value = raw
                            elif tag in _SPECIAL_TAGS:
                                raise _Unusual from None
                            else:
                                value = construct(
                                    yaml.ScalarNode(tag, raw, event.start_mark, event.end_mark)
                                )
                            plain[raw] = value
                    else:
                        value = event.value
                elif tag == _STR_TAG:
                    value = event.value
                else:
                    raise _Unusual
                line = event.start_mark.line + 1
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag not in (
                    _MAP_TAGS if kind is mapping_start else _SEQ_TAGS
                ):
                    raise _Unusual
                if len(stack) >= max_depth:
                    raise _Unusual
                line = event.start_mark.line + 1
                collection: Any
                if kind is mapping_start:
                    collection = LocatedDict()
                    collection.lines = {}
                else:
                    collection = LocatedList()
                    collection.lines = []
                collection.line = line
                stack.append([collection, kind is mapping_start, _NO_KEY, 0])
                continue
            elif kind is mapping_end or kind is sequence_end:
                frame = stack.pop()
                if frame[2] is not _NO_KEY:
                    raise _Unusual
                value = frame[0]
                line = value.line
            elif kind is yaml.DocumentEndEvent:
                if stack or type(get_event()) is not yaml.StreamEndEvent:
                    raise _Unusual
                return root, nodes
            else:  # an alias, or anything unexpected
                raise _Unusual
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise _Unusual
            if not stack:
                root = value
                continue
            frame = stack[-1]
            if not frame[1]:
                frame[0].append(value)
                frame[0].lines.append(line)
            elif frame[2] is _NO_KEY:
                key = value if type(value) is str else str(value)
                if key in frame[0]:
                    raise _Unusual  # a duplicate key: the general path names both lines
                frame[2], frame[3] = key, line
            else:
                mapping = frame[0]
                mapping[frame[2]] = value
                mapping.lines[frame[2]] = frame[3]
                frame[2] = _NO_KEY
    except _Unusual:
        raise
    except Exception as exc:  # a syntax error, a constructor's: the general path reports it
        raise _Unusual from exc
    finally:
        loader.dispose()


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
        return _load_plain(text, filename)
    except _Unusual:  # the general path: every check and error exactly as before
        return _load_general(text, filename, error, syntax)


def _load_general(text: str, filename: str, error: type[FreightlinerError], syntax: str) -> Any:
    """The limit scan, then libyaml's composer and the constructor (every case, every error)."""
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
