"""Go ``path/filepath.Match`` globs: matching, validation and exact RE2 translation.

* :func:`filepath_match` is Go's algorithm itself (see :mod:`migrate.patterns.gomatch`);
  a malformed pattern matches nothing.
* :func:`glob_to_re2` gives an anchored regex that accepts exactly the names
  ``filepath_match`` accepts (``None`` for a malformed pattern). For the usual
  patterns it is the readable translation: ``*`` → ``[^/]*``, ``?`` → ``[^/]``,
  classes as classes, literals escaped. Where Go's greedy matcher differs from
  that regex — a chunk after a ``*`` that can match ``/`` through a class
  (Go commits to its leftmost match) or that starts with ``?``/a class (Go's
  star skips bytes, so it can start inside a multi-byte character) — the
  regex is derived from an automaton of Go's algorithm instead.

The regex uses only syntax that Go's ``regexp`` (OPA), RE2 and Rust's
``regex`` read alike, and is meant for unanchored search (it is anchored
with ``^`` and ``$`` itself).
"""

from __future__ import annotations

from functools import lru_cache

from migrate.patterns._glob_dfa import exact_regex
from migrate.patterns._glob_syntax import (
    SLASH,
    Chunk,
    class_regex,
    contains,
    literal_regex,
    parse_pattern,
)
from migrate.patterns.gomatch import BadPattern, go_match

__all__ = [
    "BadPattern",
    "escape_re2",
    "filepath_match",
    "glob_to_re2",
    "go_match",
    "is_valid_glob",
    "needs_exact_translation",
]


def filepath_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match(pattern, name)``; False for a malformed pattern (ErrBadPattern)."""
    try:
        return go_match(pattern, name)
    except BadPattern:
        return False


def is_valid_glob(pattern: str) -> bool:
    """False exactly when Go reports ErrBadPattern (Go checks the whole pattern on every call)."""
    try:
        go_match(pattern, "")
    except BadPattern:
        return False
    return True


def needs_exact_translation(chunks: list[Chunk]) -> bool:
    """True when the simple regex would differ from Go's greedy, byte-wise matcher."""
    last = len(chunks) - 1
    for index, chunk in enumerate(chunks):
        if not chunk.star or not chunk.items:
            continue
        if chunk.items[0].mid_rune:
            return True
        if index == last:
            continue
        for item in chunk.items:
            if contains(item.runes, SLASH):
                # The first item that can match "/" pins the chunk to the
                # first "/" after the star only if it matches nothing else.
                if item.runes != ((SLASH, SLASH),):
                    return True
                break
    return False


def _simple_regex(chunks: list[Chunk]) -> str:
    parts = ["^"]
    for chunk in chunks:
        if chunk.star:
            parts.append("[^/]*")
        parts.extend(
            class_regex(item.runes) if item.kind != "any" else "[^/]" for item in chunk.items
        )
    parts.append("$")
    return "".join(parts)


@lru_cache(maxsize=4096)
def glob_to_re2(pattern: str) -> str | None:
    """An anchored RE2 regex equivalent to :func:`filepath_match` for every name; None if malformed.

    Raises ValueError in the (pathological) case where the exact regex would
    exceed 200,000 characters.
    """
    chunks = parse_pattern(pattern)
    if chunks is None:
        return None
    if needs_exact_translation(chunks):
        return exact_regex(chunks)
    return _simple_regex(chunks)


def escape_re2(text: str) -> str:
    """``text`` as a regex matching exactly itself (portable escapes)."""
    return "".join(literal_regex(ord(char)) for char in text)
