"""The ``platforms`` and ``with_referrers`` fields of replicate actions: validation and
their compiled form (docs/policies.md, "Platforms" and "Referrers")."""

from __future__ import annotations

import pytest

from migrate.core.errors import PolicyError
from migrate.policy.loader import parse_policy_text
from migrate.policy.semantics import compile_policy


def _errors(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy_text(text, "p.yaml")
    return info.value.lines()


def _compiled_actions(text: str) -> list[dict[str, object]]:
    [loaded] = parse_policy_text(text, "p.yaml").policies
    compiled, problems = compile_policy(loaded.policy)
    assert problems == []
    actions = compiled["actions"]
    assert isinstance(actions, list)
    return actions


def test_defaults_are_all_and_no_referrers() -> None:
    [action] = _compiled_actions("id: x\nactions:\n  - {type: replicate, target_registry: ecr}\n")
    assert (action["platforms"], action["with_referrers"]) == ("all", False)


def test_allowed_and_with_referrers_are_compiled() -> None:
    [action] = _compiled_actions(
        "id: x\nactions:\n  - type: replicate\n    target_registry: ecr\n"
        "    platforms: allowed\n    with_referrers: true\n"
    )
    assert (action["platforms"], action["with_referrers"]) == ("allowed", True)


def test_unknown_platforms_mode_is_one_line_with_file_line_policy_and_field() -> None:
    text = (
        "policies:\n  - id: multi\n    actions:\n      - type: replicate\n"
        "        target_registry: ecr\n        platforms: some\n"
    )
    assert _errors(text) == [
        "p.yaml:6: policy 'multi': actions[0].platforms: unknown platforms mode 'some': use "
        "'all' (the default: the whole index, only when every platform is allowed) or "
        "'allowed' (the allowed platforms as a new index)"
    ]


def test_with_referrers_must_be_a_boolean() -> None:
    text = "id: x\nactions:\n  - {type: replicate, target_registry: ecr, with_referrers: 'yes'}\n"
    assert _errors(text) == [
        "p.yaml:3: policy 'x': actions[0].with_referrers: Input should be a valid boolean"
    ]


def test_the_fields_belong_to_replicate_actions_only() -> None:
    text = (
        "id: x\nactions:\n  - {type: block, platforms: allowed}\n"
        "  - {type: notify, parameters: {url: 'http://127.0.0.1/h'}, with_referrers: true}\n"
    )
    assert _errors(text) == [
        "p.yaml:3: policy 'x': actions[0]: 'platforms' applies to replicate actions only",
        "p.yaml:4: policy 'x': actions[1]: 'with_referrers' applies to replicate actions only",
    ]
