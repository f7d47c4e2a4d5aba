"""Validation reports every problem in one pass (issue 17): schema and semantic problems
together, across files; a typo (``priorty``) no longer hides the rest of its policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.core.errors import PolicyError
from migrate.policy.loader import load_policy_documents, parse_policy_text

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "validation"
A, B = FIXTURES / "a.yaml", FIXTURES / "b.yaml"

SIX = [
    f"{A}:3: policy 'alpha': priorty: unknown field",
    f"{A}:5: policy 'alpha': conditions[0].value: invalid RE2 pattern '[': refused by Go's "
    "regexp (OPA): missing ]: [",
    f"{A}:7: policy 'alpha': actions[0].target_repo: invalid target_repo name 'Mirror/a': path "
    "component 1 'Mirror' is not [a-z0-9]+ joined by '.', '_', '__' or '-' (variables judged "
    "as 'a'; the rendered name is checked again)",
    f"{A}:9: policy 'beta': schedule: cron expression 'every day' has 2 fields; expected 5 or 6",
    f"{B}:3: policy 'gamma': priority: Input should be a valid integer, unable to parse string "
    "as an integer",
    f"{B}:7: policy 'gamma': actions[0].target_repo: unknown placeholder in '{{repo}}' (known: "
    "{legacy}, {match}, {registry}, {repository}, {tag}; '{{' for a brace)",
]


def _lines(check_targets: bool) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policy_documents([FIXTURES], check_targets=check_targets)
    return raised.value.lines()


def test_six_problems_in_two_files_in_one_pass() -> None:
    assert _lines(check_targets=True) == SIX


def test_targets_are_judged_only_when_asked() -> None:
    # build/serve load converted legacy rules whose literal targets the adapter judges later
    assert _lines(check_targets=False) == [SIX[0], SIX[1], SIX[3], SIX[4], SIX[5]]


def test_a_typo_inside_a_condition_hides_nothing_else() -> None:
    text = """id: x
conditions:
  - {type: tag, operator: matches, value: "[", colour: red}
  - {type: tag, value: "("}
actions:
  - {type: replicate, target_registry: ecr, target_repo: "{repo}", speed: 9}
"""
    with pytest.raises(PolicyError) as raised:
        parse_policy_text(text, "p.yaml")
    # an unknown key is dropped and the rest of its entry still checked; an entry the schema
    # refuses as a whole is replaced by a stand-in, and nothing under it is reported twice
    assert raised.value.lines() == [
        "p.yaml:3: policy 'x': conditions[0].colour: unknown field",
        "p.yaml:4: policy 'x': conditions[1]: a condition needs 'type' and 'operator' (or is "
        "a group: all/any/not)",
        "p.yaml:6: policy 'x': actions[0].speed: unknown field",
        "p.yaml:3: policy 'x': conditions[0].value: invalid RE2 pattern '[': refused by Go's "
        "regexp (OPA): missing ]: [",
        "p.yaml:6: policy 'x': actions[0].target_repo: unknown placeholder in '{repo}' "
        "(known: {legacy}, {match}, {registry}, {repository}, {tag}; '{{' for a brace)",
    ]


def test_a_valid_policy_beside_a_salvaged_one_still_loads_nothing() -> None:
    text = "- id: good\n  actions: [{type: block}]\n- id: bad\n  priorty: 1\n"
    with pytest.raises(PolicyError) as raised:
        parse_policy_text(text, "p.yaml")
    assert raised.value.lines() == ["p.yaml:4: policy 'bad': priorty: unknown field"]
