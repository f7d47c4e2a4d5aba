"""The candidate index: which policies an image can possibly match.

Each policy is filed under one *sound* key set: a condition that every image
the policy matches must satisfy (exact value of repository, registry, tag, a
label or an annotation; or a literal prefix of repository or tag). The Rego
library (``freightliner.index``) looks the image's values up and evaluates
only those policies plus the ``always`` ones (no indexable condition).
Disabled policies are filed nowhere: they never match.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IndexKey", "build_index", "index_keys", "regex_literal_prefix", "regex_literal_suffix"]

# ("exact", field, value) | ("exact", "label"/"annotation", key, value)
# | ("prefix", field, text) | ("suffix", field, text)
IndexKey = tuple[str, ...]

_REGEX_META = set("\\.[]{}()*+?|^$")
_GLOB_META = set("*?[\\")
# Lower is more selective; used to pick one child of an "all" group.
_RANK = {
    ("exact", "repository"): 0,
    ("exact", "tag"): 1,
    ("exact", "label"): 2,
    ("exact", "annotation"): 2,
    ("prefix", "repository"): 3,
    ("suffix", "repository"): 3,
    ("prefix", "tag"): 4,
    ("suffix", "tag"): 4,
    ("exact", "registry"): 5,
}


def regex_literal_prefix(pattern: str) -> str:
    """The literal text every match of an unanchored-search regex starts with ("" if unknown).

    Only patterns that start with ``^`` and contain no ``|`` qualify; the
    literal run stops at the first metacharacter, and a quantified last
    character is dropped.
    """
    if not pattern.startswith("^") or "|" in pattern:
        return ""
    run: list[str] = []
    for char in pattern[1:]:
        if char in _REGEX_META:
            if char in "?*{" and run:
                run.pop()
            break
        run.append(char)
    return "".join(run)


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


def _leaf_keys(leaf: dict[str, Any]) -> list[IndexKey] | None:
    if leaf.get("negate") or "base" not in leaf:
        return None
    ctype, op = leaf["type"], leaf["operator"]
    if ctype in {"repository", "registry", "tag"}:
        if op == "equals":
            return [("exact", ctype, leaf["arg"])]
        if op == "in":
            return [("exact", ctype, v) for v in leaf["arg"]]
        if ctype == "registry":
            return None
        if op == "matches":
            prefix = regex_literal_prefix(leaf["arg"])
            if prefix:
                return [("prefix", ctype, prefix)]
            suffix = regex_literal_suffix(leaf["arg"])
            return [("suffix", ctype, suffix)] if suffix else None
        if op == "glob":
            prefix, whole = _glob_literal_prefix(leaf["value"])
            if whole:
                return [("exact", ctype, prefix)]
            suffix = _glob_literal_suffix(leaf["value"])
            if len(suffix) > len(prefix):
                return [("suffix", ctype, suffix)]
            return [("prefix", ctype, prefix)] if prefix else None
        return None
    if ctype in {"label", "annotation"}:
        if op == "equals":
            return [("exact", ctype, leaf["key"], leaf["arg"])]
        if op == "in":
            return [("exact", ctype, leaf["key"], v) for v in leaf["arg"]]
    return None


def _rank(keys: list[IndexKey]) -> tuple[int, int]:
    return max(_RANK[(k[0], k[1])] for k in keys), len(keys)


def index_keys(compiled: dict[str, Any]) -> list[IndexKey] | None:
    """The keys to file a compiled policy under, or None when it must always be evaluated."""
    leaves = compiled["leaves"]
    groups = {g["id"]: g for level in compiled["levels"] for g in level}

    def keys_of(node: int) -> list[IndexKey] | None:
        if node < len(leaves):
            return _leaf_keys(leaves[node])
        group = groups[node]
        if group["op"] == "all":
            options = [k for k in (keys_of(c) for c in group["children"]) if k]
            return min(options, key=_rank) if options else None
        if group["op"] == "any" and group["children"]:
            parts = [keys_of(c) for c in group["children"]]
            if all(parts):
                return sorted({k for p in parts if p for k in p})
        return None

    return keys_of(compiled["root"])


def build_index(compiled_policies: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``index`` document for a set of compiled policies (keys sorted, ids sorted)."""
    exact: dict[str, Any] = {}
    prefix: dict[str, Any] = {}
    suffix: dict[str, Any] = {}
    always: list[str] = []
    for policy in compiled_policies:
        if not policy["enabled"]:
            continue
        keys = index_keys(policy)
        if keys is None:
            always.append(policy["id"])
            continue
        for key in keys:
            if key[0] in {"prefix", "suffix"}:
                table = prefix if key[0] == "prefix" else suffix
                table.setdefault(key[1], {}).setdefault(key[2], []).append(policy["id"])
            elif key[1] in {"label", "annotation"}:
                exact.setdefault(key[1], {}).setdefault(key[2], {}).setdefault(key[3], []).append(
                    policy["id"]
                )
            else:
                exact.setdefault(key[1], {}).setdefault(key[2], []).append(policy["id"])

    def lengths(table: dict[str, Any]) -> dict[str, list[int]]:
        return {field: sorted({len(text) for text in texts}) for field, texts in table.items()}

    return {
        "exact": exact,
        "prefix": prefix,
        "prefix_lengths": lengths(prefix),
        "suffix": suffix,
        "suffix_lengths": lengths(suffix),
        "always": sorted(always),
    }
