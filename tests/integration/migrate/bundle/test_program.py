"""Condition programs: literal regexes as string tests, checks in rejection order."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from migrate.bundle.library import library_dir
from migrate.bundle.program import (
    GENERAL_BASES,
    check_op,
    guard_always,
    guarded_ids,
    optimise,
)
from migrate.policy.model import Policy
from migrate.policy.semantics import compile_policy


def _compiled(conditions: list[dict[str, Any]], pid: str = "p") -> dict[str, Any]:
    compiled, problems = compile_policy(
        Policy.model_validate({"id": pid, "conditions": conditions})
    )
    assert problems == []
    return compiled


TEAM = {"type": "repository", "operator": "glob", "value": "team-42/*"}
PROD_TAG = {"type": "tag", "operator": "matches", "value": "^prod-"}
PROD_ENV = {"type": "label", "operator": "equals", "value": "environment=production"}


def test_literal_regexes_become_string_tests_and_keep_their_pattern() -> None:
    compiled = _compiled(
        [
            PROD_TAG,
            {"type": "repository", "operator": "matches", "value": "team-00042/"},
            {"type": "tag", "operator": "not_matches", "value": "^lib$"},
            {"type": "tag", "operator": "matches", "value": "(?i)^prod-"},
        ]
    )
    optimise(compiled, None)
    assert [(leaf["base"], leaf["arg"], leaf["value"]) for leaf in compiled["leaves"]] == [
        ("prefix", "prod-", "^prod-"),
        ("contains", "team-00042/", "team-00042/"),
        ("equals", "lib", "^lib$"),
        ("matches", "(?i)^prod-", "(?i)^prod-"),
    ]


def test_checks_put_the_index_key_last_and_cheap_selective_tests_first() -> None:
    compiled = _compiled(
        [TEAM, PROD_TAG, PROD_ENV, {"type": "tag", "operator": "semver", "value": ">=1.0.0"}]
    )
    optimise(compiled, [("prefix", "repository", "team-42/")])
    assert compiled["checked"] is True
    assert [(c["type"], c["base"]) for c in compiled["alternatives"][0]] == [
        ("label", "equals"),
        ("tag", "prefix"),
        ("tag", "semver"),
        ("repository", "prefix_segment"),
    ]


def test_groups_are_pushed_through_into_one_and() -> None:
    # not(any(a, b)) and all(c, not d) is not-a, not-b, c, not-d
    compiled = _compiled(
        [
            {"not": {"any": [PROD_TAG, PROD_ENV]}},
            {"all": [TEAM, {"not": {"type": "label", "operator": "exists", "value": "x"}}]},
        ]
    )
    assert compiled["shape"] == "tree"
    optimise(compiled, None)
    assert compiled["checked"] is True
    negations = {(c["type"], c["base"]): c["negate"] for c in compiled["alternatives"][0]}
    assert negations == {
        ("tag", "prefix"): True,
        ("label", "equals"): True,
        ("repository", "prefix_segment"): False,
        ("label", "exists"): True,
    }


def _clauses(compiled: dict[str, Any]) -> list[list[tuple[str, str, bool]]]:
    return [[(c["type"], c["base"], c["negate"]) for c in a] for a in compiled["alternatives"]]


def test_small_disjunctions_become_alternatives() -> None:
    cases = [
        (
            [{"any": [PROD_TAG, PROD_ENV]}],
            [[("tag", "prefix", False)], [("label", "equals", False)]],
        ),
        (
            [{"not": {"all": [PROD_TAG, PROD_ENV]}}],
            [[("tag", "prefix", True)], [("label", "equals", True)]],
        ),
        (
            [PROD_TAG, {"type": "label", "operator": "equals", "value": "a=b", "logical_op": "OR"}],
            [[("tag", "prefix", False)], [("label", "equals", False)]],
        ),
        # (a or b) and c: two ANDs, each in rejection order (the label before the glob)
        (
            [{"any": [PROD_TAG, PROD_ENV]}, TEAM],
            [
                [("tag", "prefix", False), ("repository", "prefix_segment", False)],
                [("label", "equals", False), ("repository", "prefix_segment", False)],
            ],
        ),
        # (a or not a) and not a: the AND "a and not a" can never hold and is dropped
        (
            [{"any": [PROD_TAG, {"not": PROD_TAG}]}, {"not": PROD_TAG}],
            [[("tag", "prefix", True)]],
        ),
    ]
    for conditions, clauses in cases:
        compiled = _compiled(conditions)
        optimise(compiled, None)
        assert compiled["checked"] is False
        assert _clauses(compiled) == clauses


def test_large_disjunctions_keep_the_tree() -> None:
    # (a1 or b1) and ... and (a4 or b4): 16 ANDs once distributed, more than 8
    pairs = [
        {
            "any": [
                {"type": "tag", "operator": "equals", "value": f"t{i}"},
                {"type": "label", "operator": "equals", "value": f"k{i}=v"},
            ]
        }
        for i in range(4)
    ]
    compiled = _compiled(pairs)
    optimise(compiled, None)
    # one AND of one check that evaluates the tree, by the policy's id
    assert compiled["checked"] is False
    assert compiled["alternatives"] == [
        [{"subject": [], "base": "tree", "type": "", "arg": "p", "negate": False, "op": "tree"}]
    ]
    compiled = _compiled(pairs[:3])
    optimise(compiled, None)
    assert len(compiled["alternatives"]) == 8


def test_always_evaluated_checked_policies_get_their_first_check_as_guard() -> None:
    old = _compiled([{"type": "age", "operator": "older_than", "value": "365d"}], "old")
    anyone = _compiled(
        [{"any": [PROD_TAG, {"type": "age", "operator": "older_than", "value": "1d"}]}], "anyone"
    )
    unscanned = _compiled(
        [{"type": "label", "operator": "not_exists", "value": "scan"}], "unscanned"
    )
    small = _compiled(
        [{"type": "metadata", "key": "size", "operator": "lt", "value": "1KiB"}], "small"
    )
    latest = _compiled([{"type": "tag", "operator": "not_equals", "value": "latest"}], "latest")
    policies = {
        "old": old,
        "anyone": anyone,
        "unscanned": unscanned,
        "small": small,
        "latest": latest,
    }
    for policy in policies.values():
        optimise(policy, None)
    index: dict[str, Any] = {"always": sorted(policies)}
    guard_always(index, policies)
    assert index["always"] == ["anyone"]
    assert index["guarded_above"] == [
        {
            "id": "old",
            "subject": ["age_ns"],
            "base": "gt",
            "type": "age",
            "arg": old["leaves"][0]["arg"],
            "negate": False,
            "op": "gt",
        }
    ]
    assert [(g["id"], g["base"], g["arg"]) for g in index["guarded_below"]] == [
        ("small", "lt", 1024)
    ]
    assert [(g["id"], g["subject"], g["negate"]) for g in index["guarded_absent"]] == [
        ("unscanned", ["labels", "scan"], True)
    ]
    assert [(g["id"], g["base"], g["negate"]) for g in index["guarded"]] == [
        ("latest", "equals", True)
    ]
    assert guarded_ids(index) == ["latest", "old", "small", "unscanned"]


def test_negations_are_tested_after_positive_tests() -> None:
    # not keep=true holds for most images: the tag regex rejects sooner
    compiled = _compiled(
        [
            TEAM,
            {"type": "label", "operator": "not_equals", "value": "keep=true"},
            {"type": "tag", "operator": "matches", "value": "-(dev|snapshot)$"},
            {"type": "label", "operator": "not_exists", "value": "scan"},
        ]
    )
    optimise(compiled, [("prefix", "repository", "team-42/")])
    assert [(c["type"], c["base"], c["negate"]) for c in compiled["alternatives"][0]] == [
        ("label", "exists", True),
        ("tag", "matches", False),
        ("label", "equals", True),
        ("repository", "prefix_segment", False),
    ]


def test_check_ops_fold_the_negation_in() -> None:
    def op(base: str, ctype: str, negate: bool) -> str:
        return check_op({"base": base, "type": ctype, "negate": negate})

    assert [op(b, "tag", False) for b in ("equals", "in", "prefix", "matches", "gte")] == [
        "equals",
        "in",
        "prefix",
        "matches",
        "gte",
    ]
    assert [op("equals", "tag", True), op("in", "tag", True), op("matches", "tag", True)] == [
        "not_equals",
        "not_in",
        "not_matches",
    ]
    assert [op("exists", t, n) for t in ("label", "age", "tag") for n in (False, True)] == [
        "present",
        "absent",
        "present",
        "absent",
        "exists",
        "not_exists",
    ]
    with pytest.raises(ValueError, match="no check op for the condition base 'between'"):
        op("between", "tag", False)
    compiled = _compiled(
        [PROD_TAG, PROD_ENV, {"type": "label", "operator": "not_exists", "value": "x"}]
    )
    optimise(compiled, None)
    assert [c["op"] for c in compiled["alternatives"][0]] == ["equals", "prefix", "absent"]


def test_every_check_op_is_one_the_library_knows(opa_bin: str, tmp_path: Path) -> None:
    ops = sorted(
        {
            check_op({"base": base, "type": ctype, "negate": negate})
            for base in GENERAL_BASES
            for ctype in ("tag", "label", "metadata")
            for negate in (False, True)
        }
    )
    assert len(ops) == 30
    # conditions.check is true or false for each of them, and undefined for an op it does
    # not know ("leaf", what check_op wrote before).
    (tmp_path / "input.json").write_text(json.dumps({"ops": [*ops, "leaf"]}))
    out = subprocess.run(
        [
            opa_bin,
            "eval",
            "-d",
            str(library_dir()),
            "-i",
            str(tmp_path / "input.json"),
            "-f",
            "json",
            "known := {op | some op in input.ops; "
            "is_boolean(data.freightliner.conditions.check(op, null, null))}; "
            "unknown := [op | some op in input.ops; not op in known]",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout)["result"][0]["bindings"]["unknown"] == ["leaf"]
