"""One YAML document parsed in two parts: the head here, the tail elsewhere.

A large policy file is a list of policies: the document itself (``- id: ...``
items at column 0) or the value of its last top-level key ``policies:``. Its
text is cut at a line that starts a later item of that list (``- `` at the
items' indentation, :func:`find_cut`); :func:`parse_tail` parses the tail as a
document of its own (on its own lines: the tail is preceded by as many empty
lines as the head has), and :func:`load_joined` parses the head, appends the
tail's items to the head's list, and gives exactly what
:func:`~migrate.core.yaml_source.load_yaml` gives for the whole text - or, when
anything is unusual, calls it (so every error, message and line is its own).

Why the joined value is the whole document's. Both parts go through the
one-pass path (:func:`~migrate.core.yaml_source._load_plain_counted`: no
anchors, aliases, tags, merge keys or duplicate keys; within the limits), and:

* the text has no line break other than ``\\n`` (libyaml also breaks lines at
  ``\\r``, NEL, LS and PS: the tail's lines would be counted differently), no
  byte order mark past its start, and no line starting a directive or a
  document marker (``%``, ``---``, ``...``) past its first line: the head and
  the tail are one document each, as the whole text is;
* the head parsed: so no quoted scalar or flow collection is open at its end
  (a cut inside one leaves it unterminated in the head: libyaml refuses an end
  of stream there). A block scalar or a multi-line plain scalar cannot run
  into the cut line either: that line is not more indented than the list, and
  libyaml ends both at a line not more indented than the collection holding
  them (an item of the list, or deeper). A comment ends at its line. So the
  whole text's scanner is at the start of a line in block context at the cut,
  as the tail's is at its start;
* the head's list is its root (or the value of its last key ``policies``, on
  the line found), and the tail's root is a list starting on the cut line:
  a tail token less indented than the list would end the tail's root and leave
  more than one root node, which libyaml refuses. So every token of the tail
  belongs to the items of the same list, and the items' events (values, lines)
  are the same in both parses; the tail's own list start and end are the only
  events the whole text does not have;
* the limits: the size is the whole text's; nodes are counted over both parts
  (less the tail's own list); the tail's nesting is one level less when the
  list is the value of ``policies``.

Anything else (no cut, a part that does not parse or is unusual, another shape)
goes to :func:`~migrate.core.yaml_source.load_yaml` on the whole text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

from migrate.core.limits import MAX_SOURCE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from migrate.core.yaml_source import (
    LocatedDict,
    LocatedList,
    _load_plain_counted,
    _Unusual,
    load_yaml,
)

__all__ = ["Cut", "Tail", "find_cut", "load_joined", "parse_tail"]

_FORBIDDEN = ("\r", "\x85", "\u2028", "\u2029")
_MARKERS = ("\n%", "\n---", "\n...")


class Cut(NamedTuple):
    """Where a text is cut: the tail's offset and first line (1-based), the items'
    indentation, and the line of the ``policies:`` key holding the list (0: the list is
    the document)."""

    offset: int
    line: int
    indent: int
    key_line: int


def _eligible(text: str) -> bool:
    if any(c in text for c in _FORBIDDEN) or "\ufeff" in text[1:]:
        return False
    if text.startswith(("%", "...")) or any(m in text for m in _MARKERS):
        return False
    # _load_plain_counted's own size guard, for the whole text (each part is smaller)
    return (
        len(text) * 4 <= MAX_SOURCE_BYTES
        or len(text.encode("utf-8", "surrogatepass")) <= MAX_SOURCE_BYTES
    )


def _list_start(text: str) -> tuple[int, int] | None:
    """(items' indentation, line of the ``policies:`` key or 0) of the document's policy
    list, as far as its first lines tell; None when it is not one of the two shapes."""
    body = text[1:] if text.startswith("\ufeff") else text
    if body.startswith("- "):
        return 0, 0
    if body.startswith("policies:"):
        start = text.index("policies:")
    else:
        start = text.find("\npolicies:")
        if start < 0:
            return None
        start += 1
    key_line = text.count("\n", 0, start) + 1
    rest = text[start : start + 4096].split("\n")
    if rest[0].rstrip(" ") != "policies:":
        return None
    for line in rest[1:]:
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        return (len(line) - len(stripped), key_line) if stripped.startswith("- ") else None
    return None


def find_cut(text: str, share: float) -> Cut | None:
    """The first line at or after ``1 - share`` of ``text`` that starts an item of its
    policy list (after the first item), or None (also when the text is not eligible)."""
    if not _eligible(text):
        return None
    found = _list_start(text)
    if found is None:
        return None
    indent, key_line = found
    marker = "\n" + " " * indent + "- "
    offset = text.find(marker, int(len(text) * (1 - share)))
    if offset < 0:
        return None
    offset += 1
    return Cut(offset, text.count("\n", 0, offset) + 1, indent, key_line)


class Tail(NamedTuple):
    """A tail's value and node count, and what it is the tail of (:func:`_digest`)."""

    value: Any
    nodes: int
    digest: bytes


def _digest(text: str, cut: Cut) -> bytes:
    """The text and the cut a tail was parsed from (a tail joins only to them)."""
    return hashlib.sha256(
        repr(tuple(cut)).encode() + text.encode("utf-8", "surrogatepass")
    ).digest()


def parse_tail(text: str, cut: Cut, filename: str) -> Tail | None:
    """The tail's value and node count (on the whole text's lines), or None when it is not
    a document the one-pass path takes. Where the tail is parsed: a forked child."""
    depth = MAX_YAML_DEPTH - (1 if cut.key_line else 0)
    try:
        value, nodes = _load_plain_counted(
            "\n" * (cut.line - 1) + text[cut.offset :], filename, depth
        )
    except _Unusual:
        return None
    return Tail(value, nodes, _digest(text, cut))


def load_joined(
    text: str,
    filename: str,
    cut: Cut | None,
    tail: Tail | Callable[[], Tail | None] | None,
) -> Any:
    """What ``load_yaml(text, filename)`` gives, from the head parsed here and the tail's
    :func:`parse_tail` answer (None: it had none; a function: asked for it once the head
    is parsed); ``load_yaml`` itself when unusual."""
    joined = _join(text, filename, cut, tail) if cut is not None else None
    return joined if joined is not None else load_yaml(text, filename)


def _join(text: str, filename: str, cut: Cut, source: Any) -> Any:
    if not _eligible(text) or _list_start(text) != (cut.indent, cut.key_line):
        return None
    if text[cut.offset - 1 : cut.offset + cut.indent + 2] != "\n" + " " * cut.indent + "- ":
        return None
    if text.count("\n", 0, cut.offset) + 1 != cut.line:
        return None
    try:
        head, head_nodes = _load_plain_counted(text[: cut.offset], filename)
    except _Unusual:
        return None
    tail = source() if callable(source) else source
    if not isinstance(tail, Tail) or tail.digest != _digest(text, cut):
        return None  # no tail, the tail of another text, or of another cut
    items, tail_nodes = tail.value, tail.nodes
    if type(items) is not LocatedList or not items or items.line != cut.line:
        return None
    if head_nodes + tail_nodes - 1 > MAX_YAML_NODES:
        return None
    if cut.key_line:
        if type(head) is not LocatedDict or not head or list(head)[-1] != "policies":
            return None
        if head.lines["policies"] != cut.key_line:
            return None
        target = head["policies"]
    else:
        target = head
    if type(target) is not LocatedList or not target:
        return None
    target.extend(items)
    target.lines.extend(items.lines)
    return head
