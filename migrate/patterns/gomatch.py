"""A direct port of Go's ``path/filepath.Match`` (Unix, separator ``/``).

This is the *legacy* semantics, kept deliberately independent of the glob to
RE2 translation in :mod:`migrate.patterns.glob`: it follows Go's algorithm
step by step, on the UTF-8 bytes of pattern and name, including its quirks:

* ``*`` never crosses ``/``; each chunk after a ``*`` is committed at its
  leftmost match (no backtracking into earlier stars);
* the star loop skips *bytes*, so a chunk starting with ``?`` or a class can
  start inside a multi-byte character (and then consumes single bytes);
* a malformed pattern is reported as :class:`BadPattern` for every name,
  even when the mismatch happens before the malformed part (Go >= 1.16).
"""

from __future__ import annotations

__all__ = ["BadPattern", "decode_rune", "go_match"]

_STAR = 0x2A
_QUESTION = 0x3F
_LBRACKET = 0x5B
_RBRACKET = 0x5D
_BACKSLASH = 0x5C
_CARET = 0x5E
_MINUS = 0x2D
_SLASH = 0x2F
RUNE_ERROR = 0xFFFD


class BadPattern(ValueError):
    """Go's ``filepath.ErrBadPattern``: the pattern is malformed."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def decode_rune(data: bytes) -> tuple[int, int]:
    """Go's ``utf8.DecodeRuneInString`` on non-empty ``data``: (rune, size), RuneError if bad."""
    first = data[0]
    if first < 0x80:
        return first, 1
    if 0xC2 <= first <= 0xDF:
        size = 2
    elif 0xE0 <= first <= 0xEF:
        size = 3
    elif 0xF0 <= first <= 0xF4:
        size = 4
    else:
        return RUNE_ERROR, 1
    if len(data) < size:
        return RUNE_ERROR, 1
    try:
        char = data[:size].decode("utf-8")
    except UnicodeDecodeError:
        return RUNE_ERROR, 1
    return ord(char), size


def _scan_chunk(pattern: bytes) -> tuple[bool, bytes, bytes]:
    star = False
    while pattern and pattern[0] == _STAR:
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        byte = pattern[i]
        if byte == _BACKSLASH:
            if i + 1 < len(pattern):
                i += 1
        elif byte == _LBRACKET:
            in_range = True
        elif byte == _RBRACKET:
            in_range = False
        elif byte == _STAR and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: bytes) -> tuple[int, bytes]:
    if not chunk or chunk[0] in (_MINUS, _RBRACKET):
        raise BadPattern()
    if chunk[0] == _BACKSLASH:
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern()
    rune, size = decode_rune(chunk)
    if rune == RUNE_ERROR and size == 1:
        raise BadPattern()
    rest = chunk[size:]
    if not rest:
        raise BadPattern()
    return rune, rest


def _match_chunk(chunk: bytes, name: bytes) -> tuple[bytes, bool]:
    """Go's ``matchChunk``: (rest, ok); raises BadPattern. Keeps parsing after a failure."""
    failed = False
    while chunk:
        if not failed and not name:
            failed = True
        head = chunk[0]
        if head == _LBRACKET:
            rune = 0
            if not failed:
                rune, size = decode_rune(name)
                name = name[size:]
            chunk = chunk[1:]
            negated = False
            if chunk and chunk[0] == _CARET:
                negated = True
                chunk = chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk and chunk[0] == _RBRACKET and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == _MINUS:
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= rune <= hi:
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
        elif head == _QUESTION:
            if not failed:
                if name[0] == _SLASH:
                    failed = True
                _, size = decode_rune(name)
                name = name[size:]
            chunk = chunk[1:]
        else:
            if head == _BACKSLASH:
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern()
            if not failed:
                if chunk[0] != name[0]:
                    failed = True
                name = name[1:]
            chunk = chunk[1:]
    if failed:
        return b"", False
    return name, True


def go_match(pattern: str, name: str) -> bool:
    """``filepath.Match(pattern, name)``; raises :class:`BadPattern` for Go's ErrBadPattern."""
    pat = _encode(pattern)
    rest = _encode(name)
    while pat:
        star, chunk, pat = _scan_chunk(pat)
        if star and not chunk:
            return _SLASH not in rest
        tail, ok = _match_chunk(chunk, rest)
        if ok and (not tail or pat):
            rest = tail
            continue
        if star:
            skipped = _star_skip(chunk, pat, rest)
            if skipped is not None:
                rest = skipped
                continue
        while pat:
            _, chunk, pat = _scan_chunk(pat)
            _match_chunk(chunk, b"")
        return False
    return not rest


def _star_skip(chunk: bytes, pat: bytes, rest: bytes) -> bytes | None:
    """The star loop: the rest after the leftmost match skipping 1.. non-``/`` bytes, or None."""
    i = 0
    while i < len(rest) and rest[i] != _SLASH:
        tail, ok = _match_chunk(chunk, rest[i + 1 :])
        if ok:
            if not pat and tail:
                i += 1
                continue
            return tail
        i += 1
    return None
