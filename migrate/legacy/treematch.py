"""The tree replicator's own pattern matcher (``patternCache``, pkg/tree/replicator.go).

Tree replication (``excludeRepos``, ``excludeTags``, ``includeTags``) does not
use ``filepath.Match``. Read from ``newPatternCache`` / ``matches``, each
pattern is classified once, in this order:

1. ``*`` → matches everything;
2. ends with ``*``, no other ``*``, no ``?`` → *prefix*: ``strings.HasPrefix``
   (so ``excluded/*`` excludes ``excluded/a/b``, and ``[0-9]*`` is the literal
   prefix ``[0-9]``);
3. starts with ``*``, no other ``*``, no ``?`` → *suffix*;
4. ``*text*`` (no other ``*``, no ``?``) → *contains*;
5. no ``*`` and no ``?`` → exact string;
6. otherwise ``compileGlobToRegex``: ``. + [ ] ( ) { } ^ $ | \\`` escaped, then
   ``*`` → ``[^/]*`` and ``?`` → ``[^/]``, anchored (so ``v1.?`` matches ``v1.0``
   and ``[`` is literal). That regex always compiles, so ``path.Match`` is never
   reached.

A name matches the list when any pattern matches. :func:`tree_regex` is the
equivalent RE2 regex (the same in Go and Rust: only escaped literals and
``[^/]``), used as a ``matches`` condition in the bundle.
"""

from __future__ import annotations

import re

__all__ = ["tree_kind", "tree_match", "tree_regex"]

_ESCAPED = set(".+[](){}^$|\\")


def tree_kind(pattern: str) -> tuple[str, str]:
    """(kind, literal): kind is all / prefix / suffix / contains / exact / glob."""
    if pattern == "*":
        return "all", ""
    if pattern.endswith("*") and "*" not in pattern[:-1] and "?" not in pattern:
        return "prefix", pattern[:-1]
    if pattern.startswith("*") and "*" not in pattern[1:] and "?" not in pattern:
        return "suffix", pattern[1:]
    if (
        pattern.startswith("*")
        and pattern.endswith("*")
        and "*" not in pattern[1:-1]
        and "?" not in pattern
    ):
        return "contains", pattern[1:-1]
    if "*" not in pattern and "?" not in pattern:
        return "exact", pattern
    return "glob", pattern


def _glob_body(pattern: str) -> str:
    out = []
    for char in pattern:
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char in _ESCAPED:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _literal(text: str) -> str:
    return "".join("\\" + c if c in _ESCAPED or c in "*?-" else c for c in text)


def tree_regex(pattern: str) -> str:
    """An anchored regex matching exactly what the tree matcher matches for ``pattern``."""
    kind, text = tree_kind(pattern)
    if kind == "all":
        return "^(?s:.*)$"
    if kind == "prefix":
        return f"^{_literal(text)}"
    if kind == "suffix":
        return f"{_literal(text)}$"
    if kind == "contains":
        return _literal(text)
    if kind == "exact":
        return f"^{_literal(text)}$"
    return f"^{_glob_body(text)}$"


def tree_match(pattern: str, name: str) -> bool:
    """The reference: one pattern of a ``patternCache`` against a name."""
    kind, text = tree_kind(pattern)
    if kind == "all":
        return True
    if kind == "prefix":
        return name.startswith(text)
    if kind == "suffix":
        return name.endswith(text)
    if kind == "contains":
        return text in name
    if kind == "exact":
        return name == text
    return re.fullmatch(_glob_body(text), name, flags=re.DOTALL) is not None
