"""Loading policies: accepted shapes, and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.core.errors import PolicyError
from migrate.policy.loader import load_policy_documents, parse_policy_text


def _errors(text: str, name: str = "p.yaml") -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy_text(text, name)
    return info.value.lines()


def test_seed_config_loads_unchanged(repo_root: Path) -> None:
    policy_set = load_policy_documents([repo_root / "examples/policies/seed.yaml"])
    by_id = policy_set.by_id()
    assert sorted(by_id) == ["compliance-blocking", "production-replication"]
    prod = by_id["production-replication"].policy
    assert prod.priority == 100
    assert prod.conditions[1].value == "environment=production"
    assert prod.conditions[1].logical_op == "AND"
    assert [a.target_repo for a in prod.actions] == [
        "production/{repository}",
        "prod-mirror/{repository}",
    ]
    block = by_id["compliance-blocking"].policy
    assert block.actions[0].parameters == {"reason": "Missing security scan"}
    assert by_id["production-replication"].line == 12


def test_document_shapes() -> None:
    single = "id: a\nactions: []\n"
    listed = "- id: a\n- id: b\n"
    wrapped = "policies:\n  - id: a\n"
    assert [p.policy.id for p in parse_policy_text(single, "s.yaml").policies] == ["a"]
    assert [p.policy.id for p in parse_policy_text(listed, "l.yaml").policies] == ["a", "b"]
    assert [p.policy.id for p in parse_policy_text(wrapped, "w.yaml").policies] == ["a"]
    assert len(parse_policy_text("", "empty.yaml")) == 0


def test_directory_is_recursive_yaml_and_yml(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("id: a\n")
    (tmp_path / "sub" / "b.yml").write_text("id: b\n")
    (tmp_path / "notes.txt").write_text("id: c\n")
    assert [p.policy.id for p in load_policy_documents([tmp_path]).policies] == ["a", "b"]


def test_yaml_syntax_error_names_file_and_line() -> None:
    assert _errors("policies:\n  - id: a\n    name: [unclosed\n") == [
        "p.yaml:4: YAML syntax error: did not find expected ',' or ']'"
    ]


def test_unknown_field_and_wrong_type_name_policy_and_field() -> None:
    text = "policies:\n  - id: a\n    priorty: 3\n  - id: b\n    priority: high\n"
    assert _errors(text) == [
        "p.yaml:3: policy 'a': priorty: unknown field",
        "p.yaml:5: policy 'b': priority: Input should be a valid integer, unable to parse string as an integer",
    ]


def test_every_problem_of_a_file_is_reported() -> None:
    text = """policies:
  - id: bad-regex
    conditions:
      - {type: tag, operator: matches, value: "(unclosed"}
  - id: bad-cron
    schedule: "61 * * * *"
  - id: bad-type
    conditions:
      - {type: colour, operator: equals, value: red}
  - id: bad-operator
    conditions:
      - {type: tag, operator: resembles, value: x}
  - id: bad-shape
    conditions:
      - {type: tag, operator: in, value: latest}
"""
    lines = _errors(text)
    assert len(lines) == 5
    assert lines[0].startswith(
        "p.yaml:4: policy 'bad-regex': conditions[0].value: invalid RE2 pattern '(unclosed'"
    )
    assert lines[1] == "p.yaml:6: policy 'bad-cron': schedule: minute field: 61 is outside 0-59"
    assert lines[2].startswith(
        "p.yaml:9: policy 'bad-type': conditions[0].type: unknown condition type 'colour'"
    )
    assert lines[3].startswith(
        "p.yaml:12: policy 'bad-operator': conditions[0].operator: unknown operator 'resembles'"
    )
    assert (
        lines[4]
        == "p.yaml:15: policy 'bad-shape': conditions[0].value: 'in' takes a non-empty list of strings"
    )


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("id: same\n")
    (tmp_path / "b.yaml").write_text("\n\nid: same\n")
    with pytest.raises(PolicyError) as info:
        load_policy_documents([tmp_path])
    assert info.value.lines() == [
        f"{tmp_path}/b.yaml:3: policy 'same': id: duplicate policy id (first defined at {tmp_path}/a.yaml:1)"
    ]


def test_duplicate_yaml_keys_are_errors() -> None:
    assert _errors("id: a\npriority: 1\npriority: 2\n") == [
        "p.yaml:3: duplicate key 'priority' (first at line 2)"
    ]


def test_value_shape_errors() -> None:
    cases = {
        "{type: label, operator: equals, value: no-equals-sign}": "value 'no-equals-sign' must be 'key=value' (or set 'key')",
        "{type: tag, operator: equals, value: 1.0}": "value must be a string (quote it in YAML), got 1.0",
        "{type: metadata, key: size, operator: gt, value: 5 parsecs}": "invalid size '5 parsecs'",
        "{type: age, operator: older_than, value: soon}": "invalid duration 'soon'",
        "{type: tag, operator: semver, value: '>=banana'}": "invalid version 'banana' in semver range",
        "{type: tag, operator: gt, value: '3'}": "operator 'gt' does not apply to tag",
        "{type: metadata, key: colour, operator: equals, value: red}": "unknown metadata key 'colour'",
        "{type: tag, operator: glob, value: 'a[b'}": "invalid glob pattern 'a[b'",
    }
    for condition, expected in cases.items():
        lines = _errors(f"id: x\nconditions:\n  - {condition}\n")
        assert len(lines) == 1 and expected in lines[0], (condition, lines)
        assert lines[0].startswith("p.yaml:3: policy 'x': conditions[0]")


def test_action_errors() -> None:
    text = """id: x
actions:
  - type: replicate
    target_repo: "{repo}"
    target_registry: ecr
  - type: replicate
  - type: teleport
"""
    lines = _errors(text)
    assert lines[0].startswith(
        "p.yaml:6: policy 'x': actions[1]: a replicate action needs 'target_registry'"
    )
    assert lines[1].startswith(
        "p.yaml:7: policy 'x': actions[2].type: Input should be 'replicate', 'block' or 'notify'"
    )
    # the template error of the valid action is reported in the same pass (issue 17)
    assert lines[2:] == [
        "p.yaml:4: policy 'x': actions[0].target_repo: unknown placeholder in '{repo}' "
        "(known: {legacy}, {match}, {registry}, {repository}, {tag}; '{{' for a brace)"
    ]
    lines = _errors(
        "id: x\nactions:\n  - {type: replicate, target_registry: ecr, target_repo: '{repo}'}\n"
    )
    assert lines == [
        "p.yaml:3: policy 'x': actions[0].target_repo: unknown placeholder in '{repo}' "
        "(known: {legacy}, {match}, {registry}, {repository}, {tag}; '{{' for a brace)"
    ]


def test_nesting_deeper_than_eight_levels_is_rejected() -> None:
    condition = "{type: tag, operator: equals, value: a}"
    for _ in range(8):
        condition = "{not: " + condition + "}"
    lines = _errors(f"id: deep\nconditions:\n  - {condition}\n")
    assert lines == [
        "p.yaml:2: policy 'deep': conditions: conditions nest 9 levels deep; at most 8"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as info:
        load_policy_documents([missing])
    assert info.value.lines() == [f"{missing}: cannot read: No such file or directory"]
