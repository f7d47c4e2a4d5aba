"""Parsing Go ``filepath.Match`` patterns into chunks of character sets,
and writing character sets as portable RE2 syntax.

Portable means: accepted the same way by Go's ``regexp`` (OPA), RE2 (the
``re2`` module) and Rust's ``regex`` (the embedded engine), so only
unambiguous escapes are used (``\\x{...}`` for anything unusual, never set
operators such as ``&&`` or ``--`` inside classes, never surrogates).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ANY_NON_SLASH",
    "MAX_RUNE",
    "Chunk",
    "Intervals",
    "Item",
    "class_regex",
    "contains",
    "literal_regex",
    "parse_pattern",
]

MAX_RUNE = 0x10FFFF
RUNE_ERROR = 0xFFFD
SLASH = ord("/")
Intervals = tuple[tuple[int, int], ...]
_UNIVERSE: Intervals = ((0, 0xD7FF), (0xE000, MAX_RUNE))


def normalize(pairs: list[tuple[int, int]]) -> Intervals:
    """Sorted, merged, surrogate-free closed intervals."""
    clipped: list[tuple[int, int]] = []
    for lo, hi in pairs:
        for ulo, uhi in _UNIVERSE:
            a, b = max(lo, ulo), min(hi, uhi)
            if a <= b:
                clipped.append((a, b))
    clipped.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in clipped:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def complement(intervals: Intervals) -> Intervals:
    out: list[tuple[int, int]] = []
    start = 0
    for lo, hi in intervals:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_RUNE:
        out.append((start, MAX_RUNE))
    return normalize(out)


def contains(intervals: Intervals, rune: int) -> bool:
    return any(lo <= rune <= hi for lo, hi in intervals)


ANY_NON_SLASH: Intervals = complement(((SLASH, SLASH),))


@dataclass(frozen=True)
class Item:
    """One position of a chunk: the runes it accepts at a character boundary.

    ``mid_rune`` tells whether Go's byte-wise matching lets the item consume a
    single continuation byte (``?`` always; a class when it accepts U+FFFD,
    the rune Go decodes there; a literal never).
    """

    runes: Intervals
    mid_rune: bool
    kind: str  # "lit" | "any" | "class"


@dataclass(frozen=True)
class Chunk:
    star: bool
    items: tuple[Item, ...]


class _Malformed(Exception):
    pass


def _scan_chunks(pattern: str) -> list[tuple[bool, str]]:
    chunks: list[tuple[bool, str]] = []
    rest = pattern
    while rest:
        stripped = rest.lstrip("*")
        star = len(stripped) != len(rest)
        in_range = False
        i = 0
        while i < len(stripped):
            char = stripped[i]
            if char == "\\":
                if i + 1 < len(stripped):
                    i += 1
            elif char == "[":
                in_range = True
            elif char == "]":
                in_range = False
            elif char == "*" and not in_range:
                break
            i += 1
        chunks.append((star, stripped[:i]))
        rest = stripped[i:]
    return chunks


def _class_char(text: str, pos: int) -> tuple[int, int]:
    """Go's ``getEsc``: (rune, next position)."""
    if pos >= len(text) or text[pos] in "-]":
        raise _Malformed
    if text[pos] == "\\":
        pos += 1
        if pos >= len(text):
            raise _Malformed
    rune = ord(text[pos])
    if 0xD800 <= rune <= 0xDFFF:
        raise _Malformed
    pos += 1
    if pos >= len(text):
        raise _Malformed
    return rune, pos


def _parse_items(chunk: str) -> tuple[Item, ...]:
    items: list[Item] = []
    pos = 0
    while pos < len(chunk):
        char = chunk[pos]
        if char == "[":
            pos += 1
            negated = pos < len(chunk) and chunk[pos] == "^"
            if negated:
                pos += 1
            ranges: list[tuple[int, int]] = []
            while True:
                if pos < len(chunk) and chunk[pos] == "]" and ranges:
                    pos += 1
                    break
                lo, pos = _class_char(chunk, pos)
                hi = lo
                if chunk[pos] == "-":
                    hi, pos = _class_char(chunk, pos + 1)
                ranges.append((lo, hi))
            runes = normalize([r for r in ranges if r[0] <= r[1]])
            if negated:
                runes = complement(runes)
            items.append(Item(runes, contains(runes, RUNE_ERROR), "class"))
        elif char == "?":
            pos += 1
            items.append(Item(ANY_NON_SLASH, True, "any"))
        else:
            if char == "\\":
                pos += 1
                if pos >= len(chunk):
                    raise _Malformed
            rune = ord(chunk[pos])
            pos += 1
            items.append(Item(normalize([(rune, rune)]), False, "lit"))
    return tuple(items)


def parse_pattern(pattern: str) -> list[Chunk] | None:
    """The chunks of a pattern (first one unstarred unless the pattern starts with ``*``),
    or None when Go would report ErrBadPattern."""
    try:
        return [Chunk(star, _parse_items(text)) for star, text in _scan_chunks(pattern)]
    except _Malformed:
        return None


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_OUTSIDE_SAFE = _SAFE | frozenset("-/:@,=%")
_OUTSIDE_ESCAPED = frozenset("\\.^$|?*+()[]{}")
_INSIDE_SAFE = _SAFE | frozenset("/:@,=%.")
_INSIDE_ESCAPED = frozenset("\\]^[-")


def _hex(rune: int) -> str:
    return f"\\x{{{rune:X}}}"


def literal_regex(rune: int) -> str:
    char = chr(rune)
    if char in _OUTSIDE_SAFE:
        return char
    if char in _OUTSIDE_ESCAPED:
        return "\\" + char
    return _hex(rune)


def _inside(rune: int) -> str:
    char = chr(rune)
    if char in _INSIDE_SAFE:
        return char
    if char in _INSIDE_ESCAPED:
        return "\\" + char
    return _hex(rune)


def _class_body(intervals: Intervals) -> str:
    parts: list[str] = []
    for lo, hi in intervals:
        if lo == hi:
            parts.append(_inside(lo))
        elif hi == lo + 1:
            parts.append(_inside(lo) + _inside(hi))
        else:
            parts.append(f"{_inside(lo)}-{_inside(hi)}")
    return "".join(parts)


NEVER = "[^\\x00-\\x{10FFFF}]"


def class_regex(intervals: Intervals) -> str:
    """One rune from ``intervals`` (never matches when empty)."""
    if not intervals:
        return NEVER
    if len(intervals) == 1 and intervals[0][0] == intervals[0][1]:
        return literal_regex(intervals[0][0])
    negative = complement(intervals)
    if not negative:
        return "[\\x00-\\x{10FFFF}]"
    if len(_class_body(negative)) < len(_class_body(intervals)):
        return f"[^{_class_body(negative)}]"
    return f"[{_class_body(intervals)}]"
