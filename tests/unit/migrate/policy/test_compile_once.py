"""The loader's check and the builder's compile share one compile per policy object."""

from __future__ import annotations

import pytest

import migrate.policy.semantics as semantics
from migrate.policy.model import Policy
from migrate.policy.semantics import check_policy, compile_policy

_RAW = {
    "id": "p",
    "conditions": [{"type": "tag", "operator": "matches", "value": "^v1"}],
    "actions": [{"type": "replicate", "target_registry": "ecr"}],
}


def test_a_clean_check_is_handed_to_the_next_compile_of_the_same_object_once() -> None:
    policy = Policy.model_validate(_RAW)
    assert check_policy(policy) == []
    first, problems = compile_policy(policy)
    assert problems == []
    again, _ = compile_policy(policy)
    assert again == first and again is not first  # the second compile is a fresh one
    first["leaves"][0]["base"] = "changed by the builder"
    assert compile_policy(policy)[0]["leaves"][0]["base"] == "matches"


def test_another_object_with_the_same_content_is_compiled_afresh() -> None:
    checked = Policy.model_validate(_RAW)
    assert check_policy(checked) == []
    other = Policy.model_validate(_RAW)
    compiled, _ = compile_policy(other)
    assert compiled["id"] == "p"
    assert id(checked) in semantics._PENDING  # still waiting for its own compile
    compile_policy(checked)
    assert id(checked) not in semantics._PENDING


def test_a_policy_with_problems_is_not_kept_and_the_cache_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = Policy.model_validate({**_RAW, "schedule": "not a cron"})
    assert check_policy(bad) != []
    assert id(bad) not in semantics._PENDING
    monkeypatch.setattr(semantics, "_PENDING_MAX", 2)
    policies = [Policy.model_validate({**_RAW, "id": f"p{i}"}) for i in range(3)]
    for policy in policies:
        check_policy(policy)
    assert id(policies[0]) not in semantics._PENDING
    assert [id(p) in semantics._PENDING for p in policies[1:]] == [True, True]
    for policy in policies[1:]:
        compile_policy(policy)
