"""Limits on untrusted input, checked before a parser can crash or balloon.

Every policy file, legacy file, bundle and API body is checked against these
limits (docs/policies.md, "Limits") *before* it is handed to a parser that
recurses (PyYAML's composer, ``json.loads``, pydantic) or allocates per alias
(YAML anchors). Past a limit the input is refused with one
:class:`InputLimitError` naming the limit and, where there is one, the line.

YAML is checked with an event scan (libyaml's parser is iterative; the
composer that follows it is recursive and overflows the C stack on ~40,000
nested ``[``): the scan tracks nesting depth, alias uses, and the number of
nodes the document expands to (an alias counts the whole subtree it stands
for), and stops at the first limit passed, so its cost is bounded by the input
size and never by what the aliases would expand to.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = [
    "MAX_ARCHIVE_BYTES",
    "MAX_ARCHIVE_MEMBERS",
    "MAX_ARCHIVE_MEMBER_BYTES",
    "MAX_EXACT_INTEGER",
    "MAX_JSON_DEPTH",
    "MAX_REGEX_LENGTH",
    "MAX_SOURCE_BYTES",
    "MAX_YAML_ALIASES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "InputLimitError",
    "check_json_text",
    "check_source_size",
    "check_yaml_text",
]

#: Largest policy or legacy source file (bytes).
MAX_SOURCE_BYTES = 16 * 1024 * 1024
#: Deepest nesting of YAML mappings/sequences (after aliases are expanded).
MAX_YAML_DEPTH = 64
#: Most alias uses (``*name``) in one YAML document.
MAX_YAML_ALIASES = 1_000
#: Most nodes one YAML document may expand to (aliases count their whole subtree).
MAX_YAML_NODES = 1_000_000
#: Deepest nesting of JSON arrays/objects (legacy JSON files, image files, API bodies).
MAX_JSON_DEPTH = 64
#: Most members of a bundle archive (files and directories).
MAX_ARCHIVE_MEMBERS = 100_000
#: Largest inflated size of one bundle member, and of a whole bundle (bytes).
MAX_ARCHIVE_MEMBER_BYTES = 256 * 1024 * 1024
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
#: Longest regular expression a policy may give (characters).
MAX_REGEX_LENGTH = 4096
#: Largest integer (sizes in bytes, durations in ns) both decision engines
#: represent exactly: OPA's numbers are arbitrary precision, regorus's integers
#: are 64-bit and beyond that it falls back to inexact floats (10^41 bytes passed
#: OPA's tests and failed regorus's).
MAX_EXACT_INTEGER = 2**63 - 1


class InputLimitError(ValueError):
    """An input passed a documented limit; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def check_source_size(size: int) -> None:
    """Refuse a source file larger than :data:`MAX_SOURCE_BYTES`."""
    if size > MAX_SOURCE_BYTES:
        raise InputLimitError(
            f"file is {size} bytes; the limit is {MAX_SOURCE_BYTES} bytes (input limits)"
        )


_Parser: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NODE_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_NODE_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


def check_yaml_text(text: str) -> None:
    """Scan a YAML text's events; raise :class:`InputLimitError` at the first limit passed.

    A syntax error is left for the real parser to report (it stops the scan).
    The loop runs once per event (about 40 per policy), so it keeps the sum of
    the open collections' node counts as it goes rather than re-adding them.
    """
    check_source_size(len(text.encode("utf-8", "surrogatepass")))
    loader = _Parser(text)
    # One frame per open collection: [nodes below it, height below it, anchor]
    stack: list[list[Any]] = []
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)
    total = 0  # nodes of closed top-level values
    open_nodes = 0  # sum of the open frames' node counts
    aliases = 0
    get_event = loader.get_event
    try:
        while True:
            try:
                event = get_event()  # type: ignore[no-untyped-call]
            except yaml.YAMLError:
                return  # the loader reports syntax errors with their line
            kind = type(event)
            if kind is yaml.ScalarEvent:
                nodes, height = 1, 0
                if event.anchor is not None:
                    sizes[event.anchor] = (1, 0)
            elif kind in _NODE_START:
                if len(stack) + 1 > MAX_YAML_DEPTH:
                    raise InputLimitError(
                        f"YAML nests more than {MAX_YAML_DEPTH} levels deep (input limits)",
                        _line(event),
                    )
                stack.append([0, 0, event.anchor])
                continue
            elif kind in _NODE_END:
                frame = stack.pop()
                open_nodes -= frame[0]
                nodes, height = frame[0] + 1, frame[1] + 1
                if frame[2] is not None:
                    sizes[str(frame[2])] = (nodes, height)
            elif kind is yaml.AliasEvent:
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise InputLimitError(
                        f"YAML uses more than {MAX_YAML_ALIASES} aliases (input limits)",
                        _line(event),
                    )
                nodes, height = sizes.get(str(event.anchor), (1, 0))
                if len(stack) + height > MAX_YAML_DEPTH:
                    raise InputLimitError(
                        f"YAML alias *{event.anchor} nests more than {MAX_YAML_DEPTH} levels "
                        "deep (input limits)",
                        _line(event),
                    )
            elif event is None or kind is yaml.StreamEndEvent:
                return
            else:
                continue
            if stack:
                frame = stack[-1]
                frame[0] += nodes
                if height > frame[1]:
                    frame[1] = height
                open_nodes += nodes
            else:
                total += nodes
            if nodes > MAX_YAML_NODES or total + open_nodes > MAX_YAML_NODES:
                raise InputLimitError(
                    f"YAML expands to more than {MAX_YAML_NODES} nodes (aliases count what "
                    "they repeat; input limits)",
                    _line(event),
                )
    finally:
        loader.dispose()


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}\n]")


def check_json_text(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nesting deeper than ``max_depth`` before ``json.loads`` recurses.

    Strings are skipped (brackets inside them do not count); malformed JSON is
    left for the parser to report.
    """
    depth = 0
    line = 1
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', text)):
        char = match.group()
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise InputLimitError(
                    f"JSON nests more than {max_depth} levels deep (input limits)", line
                )
        else:
            depth = max(depth - 1, 0)
