"""Legacy ``GetDestinationRepository`` (pkg/replication/rules.go), and its bundle form.

Read from the Go source (hemzaz/freightliner, pkg/replication/rules.go):

1. source pattern == destination pattern → the repository itself;
2. source has ``*`` and the destination has a ``$1``…``$9`` → ``substituteWildcard``,
   if that gives a non-empty string;
3. source has ``*``, the destination has neither ``*`` nor ``$N`` → destination as written;
4. both have ``*`` → ``substituteWildcard`` if non-empty;
5. otherwise the destination as written.

``substituteWildcard`` builds ``"^" + source.replace("*", "([^/]+)") + "$"``
(nothing else escaped: ``.``, ``+``, ``(``, ``[`` keep their regex meaning) and
compiles it with Go's ``regexp``; when that fails, or the regex does not match,
``fallbackWildcardSubstitution`` is used (one ``*`` only: literal prefix/suffix,
``strings.Replace(dst, "*", middle, 1)``; else ""). On a match every capture
group *i* replaces ``"$" + string(rune('0'+i))`` in turn (``$1``…``$9``, then
``$:``, ``$;``… for groups 10+; text inserted by an earlier group is subject to
the later replacements), then every ``*`` left becomes the first capture.

The bundle evaluates the same steps in Rego (``data.freightliner.legacy``):
:func:`destination_spec` is the data it needs. The regex is evaluated by Go's
RE2 (OPA) and by Rust's ``regex`` (regorus); :func:`portable` accepts only
regexes that mean the same in both.
"""

from __future__ import annotations

import re
from typing import Any

import re2

__all__ = [
    "MAX_GROUPS",
    "destination_spec",
    "has_substitution",
    "legacy_destination",
    "portable",
    "substitution_regex",
]

MAX_GROUPS = 16  # capture groups the Rego helper substitutes (a source with more is flagged)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def has_substitution(pattern: str) -> bool:
    """``isSubstitutionPattern``: contains ``$1``…``$9``."""
    return any(f"${i}" in pattern for i in range(1, 10))


def substitution_regex(source: str) -> str:
    return "^" + source.replace("*", "([^/]+)") + "$"


def _compiled(source: str) -> Any:
    """The Go regexp of ``substituteWildcard`` (RE2 syntax), or None when it does not compile."""
    try:
        return re2.compile(substitution_regex(source), _RE2_OPTIONS)
    except re2.error:
        return None


def _fallback(source: str, destination: str, repository: str) -> str:
    parts = source.split("*")
    if len(parts) != 2:
        return ""
    prefix, suffix = parts
    if not repository.startswith(prefix) or not repository.endswith(suffix):
        return ""
    if len(repository.encode()) < len(prefix.encode()) + len(suffix.encode()):
        return ""  # Go panics here (slice bounds out of range); unreachable for matched rules
    middle = repository[len(prefix) : len(repository) - len(suffix)]
    return destination.replace("*", middle, 1)


def _substitute(source: str, destination: str, repository: str) -> str:
    regex = _compiled(source)
    match = regex.search(repository) if regex is not None else None
    if match is None:
        return _fallback(source, destination, repository)
    groups = [g if g is not None else "" for g in match.groups()]
    result = destination
    for i, group in enumerate(groups, start=1):
        result = result.replace("$" + chr(ord("0") + i), group)
    if "*" in result:
        result = result.replace("*", groups[0])
    return result


def legacy_destination(source: str, destination: str, repository: str) -> str:
    """``GetDestinationRepository`` for a repository the rule matched."""
    if source == destination:
        return repository
    if "*" in source and (has_substitution(destination) or "*" in destination):
        result = _substitute(source, destination, repository)
        if result:
            return result
    return destination


# --- portability: Go RE2 (OPA) and Rust regex (regorus) must agree -----------------

# Outside classes: literal characters, ``.``, quantifiers ``+ ? *``, groups ``( | )``
# and ``(?:``, the regex metacharacters escaped. Classes: ``[...]`` / ``[^...]`` of
# plain characters and ranges, no ``[``, ``&``, ``~``, ``--`` or escapes inside
# (Rust reads nested classes and set operations there).
_CLASS = r"\[\^?\]?(?:[^\]\[\\&~-]|(?<!-)-(?![-\]]))*\]"
_ESCAPE = r"\\[.+*?()|\[\]{}^$\\-]"
_ATOM = rf"(?:{_CLASS}|{_ESCAPE}|\(\?:|\((?!\?)|[^\\\[\]{{}}$^(])"
_PORTABLE = re.compile(rf"(?:{_ATOM})*")


def portable(source: str) -> str | None:
    """Why the substitution regex of ``source`` might differ between the engines, or None.

    Refused: ``{`` (Go reads an invalid repetition as a literal, Rust rejects it),
    backslash letters and most escaped punctuation (``\\d``/``\\w``/``\\b`` are ASCII
    in Go, Unicode in Rust; ``\\<`` is a word boundary in Rust), inline flags ``(?i)``,
    ``^``/``$`` inside the pattern, and character classes with ``[``, ``&``, ``~``,
    ``--`` or escapes inside. Sources whose regex Go cannot compile are portable
    (both engines then use the prefix/suffix fallback, no regex).
    """
    if _compiled(source) is None:
        return None
    if _PORTABLE.fullmatch(source.replace("*", "([^/]+)")) is None:
        return (
            f"the regex legacy builds from {source!r} uses syntax that Go's RE2 and the "
            "embedded engine's Rust regex may read differently ({, backslash escapes, inline "
            "flags, anchors, or nested/escaped character classes)"
        )
    return None


def destination_spec(source: str, destination: str) -> dict[str, Any]:
    """What the Rego helper needs to compute the destination (see module docstring).

    Only for the substitution case (source has ``*``; destination has ``*`` or ``$N``).
    """
    compiled = _compiled(source)
    groups = compiled.groups if compiled is not None else 0
    parts = source.split("*")
    before, _, after = destination.partition("*")
    return {
        "regex": substitution_regex(source) if compiled is not None else "",
        "placeholders": ["$" + chr(ord("0") + i) for i in range(1, groups + 1)],
        "destination": destination,
        "fallback": len(parts) == 2,
        "prefix": parts[0] if len(parts) == 2 else "",
        "suffix": parts[1] if len(parts) == 2 else "",
        "before": before,
        "after": after,
        "star": "*" in destination,
    }
