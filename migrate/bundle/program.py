"""Per-policy condition programs: cheaper leaves and the order to reject in.

Two build-time rewrites of a compiled policy (docs/policies.md, "The compiled
form"), neither of which changes what the policy decides:

* a regex leaf whose pattern is a literal in disguise (``^team-42/``,
  ``-hotfix``, ``^lib$``, and globs without wildcards) is evaluated as a
  string operation: its ``base`` becomes ``prefix``, ``contains``, ``suffix``
  or ``equals`` and its ``arg`` the literal (``value`` keeps the pattern as
  written, for the explanation); so is a glob ``literal*`` (the regex
  ``^literal[^/]*$``): ``prefix_segment``, the literal followed by no ``/``;
* ``alternatives``: the policy's program, a list of ANDs of checks (leaves,
  negation applied) that the library tests in turn, stopping at the first
  AND whose checks all hold (``replication.passing``), each AND in the order
  that rejects a non-matching candidate early: leaves the index already
  guarantees (the key the policy is filed under) last, then by cost (string
  and number tests before regexes, regexes before semver ranges) and by how
  rarely the test holds (equality before existence before size and age
  bounds). A policy that is an AND of leaves once its groups are pushed
  through (``all`` groups, ``not`` of a leaf, ``not`` of an ``any``;
  ``checked`` is then true) has one AND; one that is a small OR of ANDs
  (``any`` groups, ``not`` of an ``all``; at most :data:`MAX_ALTERNATIVES`
  ANDs of at most :data:`MAX_ALTERNATIVE_LEAVES` leaves once distributed) has
  those ANDs, instead of evaluating every leaf and the group tree; any other
  has one AND of one check of op ``tree`` (:func:`tree_check`), which
  evaluates its tree.
"""

from __future__ import annotations

import json
from typing import Any

from migrate.bundle.index import IndexKey, _leaf_options, regex_literal, regex_segment_prefix

__all__ = [
    "GENERAL_BASES",
    "GUARD_LISTS",
    "MAX_ALTERNATIVES",
    "MAX_ALTERNATIVE_LEAVES",
    "TREE_OP",
    "check_op",
    "guard_always",
    "guarded_ids",
    "optimise",
    "tree_check",
]

#: The most ANDs a policy's condition tree may distribute into to get ``alternatives``.
MAX_ALTERNATIVES = 8
#: The most leaves one of those ANDs may test.
MAX_ALTERNATIVE_LEAVES = 16

# Cost of a base operator in the interpreters (relative; a regex is a
# cache lookup plus a match, a semver range several comparisons).
_COST = {"matches": 3, "semver": 4}
# How often a leaf of this base tends to hold (lower: rejects more often).
_HOLDS_OFTEN = {
    "equals": 0,
    "in": 0,
    "prefix": 1,
    "prefix_segment": 1,
    "suffix": 1,
    "contains": 1,
    "matches": 1,
    "semver": 1,
    "exists": 2,
}
_STRING_TYPES = {"tag", "repository", "registry", "label", "annotation"}
_CHECK_FIELDS = ("subject", "base", "type", "arg", "negate")


def _string_operation(leaf: dict[str, Any]) -> None:
    if leaf.get("base") != "matches" or leaf.get("type") not in _STRING_TYPES:
        return
    literal = regex_literal(leaf["arg"])
    if literal is not None:
        leaf["base"], leaf["arg"] = literal
        return
    segment = regex_segment_prefix(leaf["arg"])
    if segment is not None:
        leaf["base"], leaf["arg"] = "prefix_segment", segment


def _is_key(leaf: dict[str, Any], keys: set[IndexKey]) -> bool:
    own = {k for option in _leaf_options(leaf) for k in option}
    if own & keys:
        return True
    for key in keys:
        if key[0] == "composite":
            if ("prefix", key[1], key[2]) in own or ("exact", key[1], key[2]) in own:
                return True
            if ("exact", "label", key[3], key[4]) in own:
                return True
    return False


def optimise(compiled: dict[str, Any], keys: list[IndexKey] | None) -> None:
    """Rewrite literal regex leaves and set ``checked`` and ``alternatives``, in place."""
    chosen = set(keys or [])
    # Which leaves carry the index key is decided on the leaves as written.
    is_key = [bool(chosen) and _is_key(leaf, chosen) for leaf in compiled["leaves"]]
    for leaf in compiled["leaves"]:
        _string_operation(leaf)
    conjunction = _conjunction(compiled)
    compiled["checked"] = conjunction is not None
    if conjunction is not None:
        compiled["alternatives"] = [_ordered_checks(compiled["leaves"], conjunction, is_key)]
        return
    alternatives = _alternatives(compiled)
    if alternatives is None:
        compiled["alternatives"] = [[tree_check(compiled["id"])]]
        return
    compiled["alternatives"] = [
        _ordered_checks(compiled["leaves"], clause, is_key) for clause in alternatives
    ]


def _likely(leaf: dict[str, Any], flip: bool) -> bool:
    """Whether a check tends to hold: a negation (``not_equals``, ``not_matches``...)
    excludes one value or pattern, so it holds for most images; it goes after the
    positive tests. A negated ``exists`` (an absent label) does not count: most
    images have the labels policies ask about."""
    negated = bool(leaf.get("negate")) != flip
    return negated and leaf.get("base") != "exists"


def _ordered_checks(
    leaves: list[dict[str, Any]], conjunction: list[tuple[int, bool]], is_key: list[bool]
) -> list[dict[str, Any]]:
    """The leaves of an AND (negation applied) in the order that rejects soonest."""
    order = sorted(
        conjunction,
        key=lambda item: (
            is_key[item[0]] and not item[1],
            _likely(leaves[item[0]], item[1]),
            _COST.get(leaves[item[0]].get("base", ""), 1),
            _HOLDS_OFTEN.get(leaves[item[0]].get("base", ""), 3),
            item,
        ),
    )
    checks = []
    for i, flip in order:
        check = {f: leaves[i][f] for f in _CHECK_FIELDS}
        check["negate"] = bool(check["negate"]) != flip
        check["op"] = check_op(check)
        checks.append(check)
    return checks


#: Bases a check's ``op`` names directly when it is not negated.
_DIRECT_OPS = frozenset({"equals", "in", "prefix", "prefix_segment", "matches", "lt", "gt"})
#: Types whose ``exists`` is "the key is there" (the subject is not null).
_KEYED_TYPES = frozenset({"label", "annotation", "age"})
#: Every base the library's ``conditions.holds`` knows; the library's
#: ``conditions._general`` has an op for each, and for each after ``not_``.
GENERAL_BASES = (
    "equals",
    "in",
    "prefix",
    "prefix_segment",
    "exists",
    "matches",
    "lt",
    "gt",
    "semver",
    "contains",
    "suffix",
    "lte",
    "gte",
    "legacy_semver",
)


#: The op of a check that evaluates a whole policy's condition tree (its subject is
#: every fact, ``[]``; its argument the policy's id): ``conditions.check``'s last branch.
TREE_OP = "tree"


def tree_check(policy_id: str) -> dict[str, Any]:
    """The one check of a policy whose tree no small list of ANDs expresses."""
    return {
        "subject": [],
        "base": TREE_OP,
        "type": "",
        "arg": policy_id,
        "negate": False,
        "op": TREE_OP,
    }


def check_op(check: dict[str, Any]) -> str:
    """What the library's ``conditions.check`` tests for a check, negation included, so
    that it needs only the op, the subject and the argument: the base for the common
    positive ones, ``not_equals``, ``present`` / ``absent`` (a label, annotation or age),
    else the base (``not_`` + the base when negated; an ``exists`` of another type)."""
    base, negate = str(check.get("base")), bool(check.get("negate"))
    if base not in GENERAL_BASES:
        raise ValueError(f"no check op for the condition base {base!r}")
    if base == "exists" and check.get("type") in _KEYED_TYPES:
        return "absent" if negate else "present"
    return f"not_{base}" if negate else base


def _alternatives(compiled: dict[str, Any]) -> list[list[tuple[int, bool]]] | None:
    """The policy as an OR of ANDs of (leaf, negated) (its disjunctive normal form)
    when that is small (:data:`MAX_ALTERNATIVES`, :data:`MAX_ALTERNATIVE_LEAVES`), else None.

    Negations are pushed to the leaves (De Morgan; exact, leaves are always
    true or false) and ANDs distributed over ORs; an AND that has a test both
    ways can never hold and is dropped, and a repeated test is made once.
    """
    leaves = compiled["leaves"]
    if any("base" not in leaf for leaf in leaves):
        return None
    groups = {g["id"]: g for level in compiled["levels"] for g in level}

    def walk(node: int, negated: bool) -> list[list[tuple[int, bool]]] | None:
        if node < len(leaves):
            return [[(node, negated)]]
        group = groups[node]
        children = group["children"]
        if group["op"] == "not":
            return walk(children[0], not negated)
        parts = [walk(child, negated) for child in children]
        if any(part is None for part in parts):
            return None
        if (group["op"] == "all") == negated:  # an OR of its children
            union = [clause for part in parts if part for clause in part]
            return union if len(union) <= MAX_ALTERNATIVES else None
        product: list[list[tuple[int, bool]]] = [[]]
        for part in parts:
            assert part is not None
            product = [left + right for left in product for right in part]
            if len(product) > MAX_ALTERNATIVES:
                return None
        return product

    clauses = walk(compiled["root"], False)
    if clauses is None:
        return None
    # Leaves that test the same thing (subject, operator, argument) are one test.
    same = [json.dumps([leaf[f] for f in _CHECK_FIELDS if f != "negate"]) for leaf in leaves]
    result = []
    for clause in clauses:
        tests: dict[tuple[str, bool], tuple[int, bool]] = {}
        for i, negated in clause:
            effective = bool(leaves[i]["negate"]) != negated
            tests.setdefault((same[i], effective), (i, negated))
        if any((text, not effective) in tests for text, effective in tests):
            continue  # a test and its negation: never holds
        if len(tests) > MAX_ALTERNATIVE_LEAVES:
            return None
        result.append(sorted(tests.values()))
    return result


def _conjunction(compiled: dict[str, Any]) -> list[tuple[int, bool]] | None:
    """The policy as an AND of (leaf, negated) when it is one, else None.

    Groups are pushed through: ``all`` concatenates, ``not`` flips, and a
    negated ``any`` is an ``all`` of negations (De Morgan; leaves are always
    true or false, never undefined, so this is exact). A disjunction left over
    (an ``any`` of two or more, a negated ``all`` of two or more) is not.
    """
    leaves = compiled["leaves"]
    if any("base" not in leaf for leaf in leaves):
        return None
    groups = {g["id"]: g for level in compiled["levels"] for g in level}

    def walk(node: int, negated: bool) -> list[tuple[int, bool]] | None:
        if node < len(leaves):
            return [(node, negated)]
        group = groups[node]
        children = group["children"]
        if group["op"] == "not":
            return walk(children[0], not negated)
        conjunctive = (group["op"] == "all") != negated
        if not conjunctive and len(children) != 1:
            return None
        out: list[tuple[int, bool]] = []
        for child in children:
            part = walk(child, negated)
            if part is None:
                return None
            out.extend(part)
        return out

    return walk(compiled["root"], False)


#: Guards the index tests inline (no call to ``holds``), by the list they are kept in:
#: ``guarded_above`` / ``guarded_below``: a number above / below ``arg`` (``gt`` / ``lt``);
#: ``guarded_absent``: a label or annotation (or age) that is absent (``not_exists``).
GUARD_LISTS = ("guarded", "guarded_above", "guarded_below", "guarded_absent")


def _guard_list(check: dict[str, Any]) -> str:
    base, negate = check.get("base"), bool(check.get("negate"))
    if base == "gt" and not negate:
        return "guarded_above"
    if base == "lt" and not negate:
        return "guarded_below"
    if base == "exists" and negate and check.get("type") in {"label", "annotation", "age"}:
        return "guarded_absent"
    return "guarded"


def guarded_ids(index: dict[str, Any]) -> list[str]:
    """The ids of every guarded policy of an index, whichever list holds its guard."""
    return sorted(g["id"] for name in GUARD_LISTS for g in index.get(name, []))


def guard_always(index: dict[str, Any], compiled: dict[str, dict[str, Any]]) -> None:
    """Give each always-evaluated checked policy a guard: its first check.

    The index evaluates the guard (one leaf) for every image and makes the
    policy a candidate only when it holds; any other policy stays in
    ``always``. Sound: a checked policy matches only when every check holds.
    Guards of the shapes in :data:`GUARD_LISTS` are kept in their own lists,
    which the library tests inline; the others in ``guarded``.
    """
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in GUARD_LISTS}
    always = []
    for pid in index["always"]:
        alternatives = compiled[pid].get("alternatives") or [[]]
        if compiled[pid].get("checked") and alternatives[0]:
            first = alternatives[0][0]
            lists[_guard_list(first)].append({"id": pid, **first})
        else:
            always.append(pid)
    index["always"] = always
    index.update(lists)
