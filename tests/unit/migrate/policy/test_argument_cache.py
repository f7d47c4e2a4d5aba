"""Leaf arguments and templates are computed once per distinct value (issue 13.5),
with the same answers and refusals as computing them each time, and no shared state."""

from __future__ import annotations

import pytest

from migrate.policy import conditions
from migrate.policy.conditions import ConditionError, compile_leaf
from migrate.policy.model import ConditionNode
from migrate.policy.values import parse_template


def _leaf(**fields: object) -> dict[str, object]:
    return compile_leaf(ConditionNode.model_validate(fields), "conditions[0]")


def test_refusals_are_the_same_every_time() -> None:
    messages = []
    for _ in range(2):
        with pytest.raises(ConditionError) as caught:
            _leaf(type="tag", operator="matches", value="(?P<x>a")
        messages.append((caught.value.field, str(caught.value)))
    assert messages[0] == messages[1]
    assert messages[0][0] == "value" and "invalid RE2 pattern" in messages[0][1]


def test_equal_values_of_other_types_are_not_confused() -> None:
    conditions._ARGUMENTS.clear()
    assert _leaf(type="tag", operator="equals", value="1")["arg"] == "1"
    with pytest.raises(ConditionError, match="must be a string"):
        _leaf(type="tag", operator="equals", value=1)
    with pytest.raises(ConditionError, match="must be a string"):
        _leaf(type="tag", operator="equals", value=True)


def test_cached_answers_equal_fresh_ones() -> None:
    cases = [
        {"type": "tag", "operator": "matches", "value": "^prod-.*"},
        {"type": "repository", "operator": "glob", "value": "team-1/*"},
        {"type": "age", "operator": "older_than", "value": "30d"},
        {"type": "metadata", "key": "size", "operator": "gt", "value": "2GiB"},
    ]
    conditions._ARGUMENTS.clear()
    fresh = [_leaf(**c)["arg"] for c in cases]
    assert len(conditions._ARGUMENTS) == len(cases)
    assert [_leaf(**c)["arg"] for c in cases] == fresh
    assert fresh[2] == 30 * 86400 * 10**9 and fresh[3] == 2 * 1024**3


def test_mutable_answers_are_never_shared() -> None:
    a = _leaf(type="tag", operator="semver", value=">=1.0.0 <2.0.0")["arg"]
    b = _leaf(type="tag", operator="semver", value=">=1.0.0 <2.0.0")["arg"]
    assert a == b and a is not b
    first = parse_template("mirror/{repository}")
    first[0]["text"] = "changed"
    assert parse_template("mirror/{repository}") == [
        {"text": "mirror/", "var": ""},
        {"text": "", "var": "repository"},
    ]
    for _ in range(2):
        with pytest.raises(ValueError, match="unknown placeholder"):
            parse_template("{nope}")
