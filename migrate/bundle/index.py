"""The candidate index: which policies an image can possibly match.

Each enabled policy is filed under one *sound* key set: keys of conditions
every image the policy matches must satisfy (exact value of repository,
registry, tag, a string metadata field (:data:`EXACT_METADATA`), a label or an
annotation, ``not:`` groups pushed through; a literal prefix, suffix or required
substring of repository or tag; or a repository/tag prefix combined with a
label value). The Rego library (``freightliner.index``) looks the image's
values up and evaluates only those policies plus the ``always`` ones (no
indexable condition). Disabled policies are filed nowhere: they never match.

Which key a policy is filed under is chosen over the whole set
(selectivity-aware): every indexable condition of the policy is an *option*,
and the option shared by the fewest policies wins (counted over all
policies' options), so a team policy ``repository glob team-42/*`` +
``environment=production`` is filed under its team's prefix, not under the
label every team shares. When even the best single key is shared by many
policies, a composite key (repository or tag prefix + label value) is used.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EXACT_METADATA",
    "IndexKey",
    "IndexReport",
    "build_index",
    "build_index_with_report",
    "index_keys",
    "mark_extended",
    "policy_options",
    "regex_literal",
    "regex_literal_prefix",
    "regex_literal_suffix",
    "regex_required_literal",
    "regex_segment_prefix",
]

# ("exact", field, value) | ("exact", "label"/"annotation", key, value)
# | ("prefix" | "suffix" | "contains", field, text)
# | ("composite", field, prefix, label key, label value)
IndexKey = tuple[str, ...]
Option = tuple[IndexKey, ...]

_REGEX_META = set("\\.[]{}()*+?|^$")
_GLOB_META = set("*?[\\")
# Characters a backslash may escape to stand for themselves (RE2 accepts an
# escaped punctuation character as that character).
_ESCAPABLE = set("\\.+*?()|[]{}^$-/_:=@#%&~!,;<>'\"` ")
#: Required literals shorter than this are not used (too many images contain them).
MIN_CONTAINS = 3
#: Metadata fields (string-valued image fields) whose equals / in conditions are indexed
#: by exact value, like repository, registry and tag (``index.exact_fields`` lists the
#: fields a bundle's index holds).
EXACT_METADATA = frozenset(
    {"architecture", "os", "variant", "media_type", "digest", "index_digest"}
)
#: A single key shared by more policies than this makes a composite key worth it.
COMPOSITE_FROM = 16
# Lower is more selective; breaks ties between options shared by equally many.
_RANK = {
    "exact": 0,
    "composite": 1,
    "prefix": 2,
    "suffix": 2,
    "contains": 3,
}
# Between kinds of equal rank: a repository is the most specific field, a registry the least.
# Digests single out one image; platform fields few values.
_FIELD_RANK = {
    "digest": 0,
    "index_digest": 0,
    "repository": 0,
    "tag": 1,
    "label": 2,
    "annotation": 2,
    "media_type": 4,
    "variant": 4,
    "os": 5,
    "architecture": 5,
    "registry": 5,
}


def _rank(option: Option) -> tuple[int, int, int]:
    return (
        max(_RANK[k[0]] for k in option),
        max(_FIELD_RANK[k[1]] for k in option),
        len(option),
    )


def _literal_run(pattern: str, start: int) -> tuple[str, int]:
    """The literal text from ``start`` up to the first metacharacter, and where it stops.

    Escaped punctuation counts as literal. A quantifier after the run removes
    the run's last character (it may repeat zero times).
    """
    run: list[str] = []
    i = start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in _ESCAPABLE:
            run.append(pattern[i + 1])
            i += 2
            continue
        if char in _REGEX_META:
            if char in "?*{" and run:
                run.pop()
            break
        run.append(char)
        i += 1
    return "".join(run), i


def regex_literal(pattern: str) -> tuple[str, str] | None:
    """A regex that is a string test in disguise: ``(kind, text)`` or None.

    kind is ``equals`` (``^text$``), ``prefix`` (``^text``), ``suffix``
    (``text$``) or ``contains`` (``text``), for patterns made only of literal
    characters (escaped punctuation allowed). RE2's ``$`` without the ``m``
    flag matches only at the end of the text, so ``text$`` is an exact suffix.
    """
    anchored = pattern.startswith("^")
    body = pattern[1:] if anchored else pattern
    ended = body.endswith("$") and not body.endswith("\\$")
    if ended:
        body = body[:-1]
    text, stop = _literal_run(body, 0)
    if stop != len(body):
        return None
    if anchored and ended:
        return "equals", text
    if anchored:
        return "prefix", text
    if ended:
        return "suffix", text
    return "contains", text


#: How a glob's trailing ``*`` is translated (migrate/patterns/glob.py): any text without "/".
_SEGMENT_TAIL = "[^/]*$"


def regex_segment_prefix(pattern: str) -> str | None:
    """The literal of a regex ``^literal[^/]*$`` (a glob ``literal*``), else None.

    Such a regex holds exactly when the text starts with the literal and has no
    ``/`` after it: a string test (``prefix_segment``) rather than a regex.
    """
    if not pattern.startswith("^") or not pattern.endswith(_SEGMENT_TAIL):
        return None
    body = pattern[1 : -len(_SEGMENT_TAIL)]
    text, stop = _literal_run(body, 0)
    return text if stop == len(body) else None


def regex_literal_prefix(pattern: str) -> str:
    """The literal text every match of an unanchored-search regex starts with ("" if unknown).

    Only patterns that start with ``^`` and contain no ``|`` qualify; the
    literal run stops at the first metacharacter, and a quantified last
    character is dropped.
    """
    if not pattern.startswith("^") or "|" in pattern:
        return ""
    return _literal_run(pattern, 1)[0]


def regex_literal_suffix(pattern: str) -> str:
    """The literal text every match of an unanchored-search regex ends with ("" if unknown).

    Only patterns that end with an unescaped ``$`` and contain no ``|``, no
    backslash and no flag group (``(?m)`` would let ``$`` match at a newline)
    qualify; the literal run before ``$`` stops at the first metacharacter
    (nothing can quantify the run: only ``$`` follows it).
    """
    if not pattern.endswith("$") or "|" in pattern or "\\" in pattern or "(?" in pattern:
        return ""
    run: list[str] = []
    for char in reversed(pattern[:-1]):
        if char in _REGEX_META:
            break  # a quantifier here applies to what precedes the run, not to the run
        run.append(char)
    return "".join(reversed(run))


def regex_required_literal(pattern: str) -> str:
    """The longest literal text every match of a regex contains ("" if unknown).

    Only top-level literal runs count: text inside groups or classes is
    skipped (it may be optional or an alternative), a top-level ``|`` or a
    flag group (``(?i)`` changes what a literal matches) gives nothing, and a
    quantified last character is dropped from its run.
    """
    if "(?" in pattern or re.search(r"\\[0-9A-Za-z]", pattern):
        return ""  # flags, or escapes like \x41 / \pL / \d whose text is not literal
    best = ""
    depth = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if depth == 0:
                run, stop = _literal_run(pattern, i)
                if stop > i:
                    best = max(best, run, key=len)
                    i = stop
                    continue
            i += 2
            continue
        if char == "[":
            close = pattern.find("]", i + 2)
            if close < 0:
                return ""
            i = close + 1
            continue
        if char == "{":  # a repetition count: its digits are not text
            close = pattern.find("}", i)
            if close < 0:
                return ""
            i = close + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return ""
        elif depth == 0 and char not in _REGEX_META:
            run, stop = _literal_run(pattern, i)
            best = max(best, run, key=len)
            i = max(stop, i + 1)
            continue
        i += 1
    return best


def _glob_literal_suffix(pattern: str) -> str:
    """The text after a glob's last metacharacter ("" when it contains a backslash escape)."""
    if "\\" in pattern:
        return ""
    for i in range(len(pattern) - 1, -1, -1):
        if pattern[i] in _GLOB_META or pattern[i] == "]":
            return pattern[i + 1 :]
    return pattern


def _glob_literal_prefix(pattern: str) -> tuple[str, bool]:
    """(prefix, whole): the text before the first glob metacharacter; whole when there is none."""
    for i, char in enumerate(pattern):
        if char in _GLOB_META:
            return pattern[:i], False
    return pattern, True


def _string_options(ctype: str, op: str, leaf: dict[str, Any]) -> list[Option]:
    """Options of a repository / tag / registry leaf."""
    if op == "equals":
        return [(("exact", ctype, leaf["arg"]),)]
    if op == "in":
        return [tuple(("exact", ctype, v) for v in sorted(set(leaf["arg"])))]
    if ctype == "registry":
        return []
    options: list[Option] = []
    if op == "matches":
        pattern = leaf["value"] if isinstance(leaf.get("value"), str) else leaf["arg"]
        literal = regex_literal(pattern)
        if literal is not None and literal[0] == "equals":
            return [(("exact", ctype, literal[1]),)]
        prefix = regex_literal_prefix(pattern)
        if prefix:
            options.append((("prefix", ctype, prefix),))
        suffix = regex_literal_suffix(pattern)
        if suffix:
            options.append((("suffix", ctype, suffix),))
        required = regex_required_literal(pattern)
        if len(required) >= MIN_CONTAINS and required not in {prefix, suffix}:
            options.append((("contains", ctype, required),))
    elif op == "glob":
        prefix, whole = _glob_literal_prefix(leaf["value"])
        if whole:
            return [(("exact", ctype, prefix),)]
        if prefix:
            options.append((("prefix", ctype, prefix),))
        suffix = _glob_literal_suffix(leaf["value"])
        if suffix:
            options.append((("suffix", ctype, suffix),))
    elif op == "contains" and len(leaf["arg"]) >= MIN_CONTAINS:
        options.append((("contains", ctype, leaf["arg"]),))
    return options


def _leaf_options(leaf: dict[str, Any], negated: bool = False) -> list[Option]:
    """The ways to file a leaf (under ``negated`` ``not`` groups): none when it tests
    a negation; a negated ``not_*`` leaf is its positive operator."""
    if bool(leaf.get("negate")) != negated or "base" not in leaf:
        return []
    operator = leaf["operator"].removeprefix("not_") if negated else leaf["operator"]
    value, arg = leaf.get("value"), leaf["arg"]
    if operator not in {"equals", "in", "contains", "matches"}:
        arg = None  # only these read it (a semver range's comparators are not hashable)
    return list(
        _cached_options(
            leaf["type"],
            operator,
            leaf.get("key", ""),
            value if isinstance(value, str) else None,
            arg
            if isinstance(arg, str)
            else tuple(map(str, arg))
            if isinstance(arg, list)
            else None,
        )
    )


@functools.lru_cache(maxsize=1 << 16)
def _cached_options(
    ctype: str, op: str, key: str, value: str | None, arg: str | tuple[Any, ...] | None
) -> tuple[Option, ...]:
    """Options of a leaf, by what they depend on (many policies share conditions)."""
    leaf = {"key": key, "value": value, "arg": list(arg) if isinstance(arg, tuple) else arg}
    return tuple(_options_uncached(ctype, op, leaf))


def _options_uncached(ctype: str, op: str, leaf: dict[str, Any]) -> list[Option]:
    if ctype in {"repository", "registry", "tag"}:
        return _string_options(ctype, op, leaf)
    if ctype == "metadata" and leaf["key"] in EXACT_METADATA:
        if op == "equals":
            return [(("exact", leaf["key"], leaf["arg"]),)]
        if op == "in":
            return [tuple(("exact", leaf["key"], v) for v in sorted(set(leaf["arg"])))]
    if ctype in {"label", "annotation"}:
        if op == "equals":
            return [(("exact", ctype, leaf["key"], leaf["arg"]),)]
        if op == "in":
            return [tuple(("exact", ctype, leaf["key"], v) for v in sorted(set(leaf["arg"])))]
    return []


def _composites(options: list[Option]) -> list[Option]:
    """Repository/tag prefix (or exact value) x label value, from one AND's members' options."""
    scopes = [
        o[0]
        for o in options
        if len(o) == 1 and o[0][1] in {"repository", "tag"} and o[0][0] in {"prefix", "exact"}
    ]
    labels = [o[0] for o in options if len(o) == 1 and o[0][:2] == ("exact", "label")]
    return [(("composite", s[1], s[2], label[2], label[3]),) for s in scopes for label in labels]


def policy_options(compiled: dict[str, Any]) -> list[Option]:
    """Every sound way to file a compiled policy (empty: it must always be evaluated)."""
    leaves = compiled["leaves"]
    groups = {g["id"]: g for level in compiled["levels"] for g in level}

    def options_of(node: int, negated: bool) -> list[Option]:
        if node < len(leaves):
            return _leaf_options(leaves[node], negated)
        group = groups[node]
        if group["op"] == "not":
            return options_of(group["children"][0], not negated)
        # under a negation an all: is an any: of negations, and an any: an all: (De Morgan)
        if (group["op"] == "all") != negated:
            options = [o for c in group["children"] for o in options_of(c, negated)]
            return options + _composites(options)
        if group["children"]:
            parts = [options_of(c, negated) for c in group["children"]]
            if all(parts):
                # every member must be findable: the union of each member's first option
                return [tuple(sorted({k for p in parts for k in p[0]}))]
        return []

    return options_of(compiled["root"], False)


def index_keys(compiled: dict[str, Any]) -> list[IndexKey] | None:
    """The keys one policy on its own would be filed under (None: always evaluated).

    The whole set's choice (:func:`build_index`) also weighs how many other
    policies share each key; on its own, the most specific kind of key wins.
    """
    options = policy_options(compiled)
    if not options:
        return None
    best: Option = min(options, key=_rank)
    return list(best)


@dataclass
class IndexReport:
    """What the index does for an image: the worst case and the policies it cannot narrow."""

    worst_case: int
    always: list[str] = field(default_factory=list)
    #: (key text, policy ids) of keys shared by a large share of the policies
    crowded: list[tuple[str, list[str]]] = field(default_factory=list)


def _key_text(key: IndexKey) -> str:
    kind, fld = key[0], key[1]
    if kind == "composite":
        return f"{fld} prefix {key[2]!r} + label {key[3]}={key[4]!r}"
    if kind == "exact" and fld in {"label", "annotation"}:
        return f"{fld} {key[2]}={key[3]!r}"
    return f"{fld} {kind} {key[2]!r}" if kind != "exact" else f"{fld} = {key[2]!r}"


def build_index(
    compiled_policies: list[dict[str, Any]],
) -> dict[str, Any]:
    """The ``index`` document for a set of compiled policies (keys sorted, ids sorted)."""
    return build_index_with_report(compiled_policies)[0]


def build_index_with_report(
    compiled_policies: list[dict[str, Any]],
) -> tuple[dict[str, Any], IndexReport, dict[str, list[IndexKey]]]:
    """The index, its report, and the keys each filed policy was filed under."""
    enabled = [p for p in compiled_policies if p["enabled"]]
    options = {p["id"]: policy_options(p) for p in enabled}
    shared: Counter[IndexKey] = Counter()
    for opts in options.values():
        for key in {k for o in opts for k in o}:
            shared[key] += 1

    def cost(option: Option) -> tuple[int, tuple[int, int, int]]:
        return sum(shared[k] for k in option), _rank(option)

    chosen: dict[str, list[IndexKey]] = {}
    always: list[str] = []
    for pid in sorted(options):
        opts = options[pid]
        if not opts:
            always.append(pid)
            continue
        singles = [o for o in opts if o[0][0] != "composite"]
        best = min(singles or opts, key=cost)
        composites = [o for o in opts if o[0][0] == "composite"]
        if composites and sum(shared[k] for k in best) > COMPOSITE_FROM:
            alternative = min(composites, key=cost)
            if cost(alternative) < cost(best):
                best = alternative
        chosen[pid] = list(best)

    exact: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {"prefix": {}, "suffix": {}, "contains": {}}
    composite: dict[str, Any] = {}
    for pid, keys in chosen.items():
        for key in keys:
            kind = key[0]
            if kind in tables:
                tables[kind].setdefault(key[1], {}).setdefault(key[2], []).append(pid)
            elif kind == "composite":
                composite.setdefault(key[1], {}).setdefault(key[2], {}).setdefault(
                    key[3], {}
                ).setdefault(key[4], []).append(pid)
            elif key[1] in {"label", "annotation"}:
                exact.setdefault(key[1], {}).setdefault(key[2], {}).setdefault(key[3], []).append(
                    pid
                )
            else:
                exact.setdefault(key[1], {}).setdefault(key[2], []).append(pid)

    def lengths(table: dict[str, Any]) -> dict[str, list[int]]:
        return {fld: sorted({len(text) for text in texts}) for fld, texts in table.items()}

    index = {
        "exact": exact,
        "exact_fields": sorted(f for f in exact if f not in {"label", "annotation"}),
        "prefix": tables["prefix"],
        "prefix_lengths": lengths(tables["prefix"]),
        "suffix": tables["suffix"],
        "suffix_lengths": lengths(tables["suffix"]),
        "contains": tables["contains"],
        "contains_lengths": lengths(tables["contains"]),
        "composite": composite,
        "composite_lengths": lengths(composite),
        "always": sorted(always),
    }
    return index, _report(index, chosen, len(enabled)), chosen


#: The index's tables the library reads only when ``extended`` is true (its
#: ``index.extended``; ``index.core`` reads exact values other than annotations,
#: prefixes, ``guarded_above`` and ``guarded_absent``).
EXTENDED_TABLES = (
    "suffix_lengths",
    "contains_lengths",
    "composite_lengths",
    "always",
    "guarded",
    "guarded_below",
)


def mark_extended(index: dict[str, Any]) -> None:
    """Say whether a finished index (guards included) uses a table beyond the core:
    ``extended`` false lets a decision skip those tables' comprehensions (an index
    without the key, from an older build, is read whole)."""
    index["extended"] = bool(index["exact"].get("annotation")) or any(
        index.get(table) for table in EXTENDED_TABLES
    )


def _chain_max(table: dict[str, list[str]], kind: str) -> int:
    """The most policies one image value can reach in a prefix/suffix/contains table:
    for each text, the policies under every text in the table that is a prefix
    (suffix, substring) of it. Linear in the table times its distinct lengths."""
    lengths = sorted({len(t) for t in table})
    best = 0
    for text in table:
        if kind == "prefix":
            related = {text[:n] for n in lengths if n <= len(text)}
        elif kind == "suffix":
            related = {text[len(text) - n :] for n in lengths if n <= len(text)}
        else:
            related = {text[i : i + n] for n in lengths for i in range(len(text) - n + 1)}
        best = max(best, sum(len(table.get(t, ())) for t in related))
    return best


def _report(index: dict[str, Any], chosen: dict[str, list[IndexKey]], enabled: int) -> IndexReport:
    worst = len(index["always"])
    for fld, table in index["exact"].items():
        if fld in {"label", "annotation"}:
            worst += sum(max(len(ids) for ids in values.values()) for values in table.values())
        else:
            worst += max(len(ids) for ids in table.values())
    for kind in ("prefix", "suffix", "contains"):
        for table in index[kind].values():
            worst += _chain_max(table, kind)
    for by_prefix in index["composite"].values():
        flat: dict[str, list[str]] = {
            p: max(
                (list(ids) for values in labels.values() for ids in values.values()),
                key=len,
            )
            for p, labels in by_prefix.items()
        }
        worst += _chain_max(flat, "prefix")
    # a policy filed under keys of several dimensions (an any: group) counts in each,
    # but no image has more candidates than there are enabled policies
    worst = min(worst, enabled)
    by_key: dict[IndexKey, list[str]] = {}
    for pid, keys in chosen.items():
        for key in keys:
            by_key.setdefault(key, []).append(pid)
    threshold = max(50, enabled // 10)
    crowded = sorted(
        ((_key_text(k), sorted(ids)) for k, ids in by_key.items() if len(ids) > threshold),
        key=lambda item: (-len(item[1]), item[0]),
    )
    return IndexReport(worst_case=worst, always=list(index["always"]), crowded=crowded)
