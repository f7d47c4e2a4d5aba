"""The candidate index: which key each policy is filed under, and soundness checks."""

from __future__ import annotations

import pytest
import re2

from migrate.bundle.index import build_index, index_keys, regex_literal_prefix, regex_literal_suffix
from migrate.policy.model import Policy
from migrate.policy.semantics import compile_policy


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("^prod-.*", "prod-"),
        ("^ab?", "a"),
        ("^ab+", "ab"),
        ("^ab{0,2}", "a"),
        ("^a\\.b", "a"),
        ("prod", ""),
        ("^a|b", ""),
        ("(?i)^abc", ""),
        ("^(?i)abc", ""),
        ("^é1", "é1"),
    ],
)
def test_regex_literal_prefix(pattern: str, prefix: str) -> None:
    assert regex_literal_prefix(pattern) == prefix


@pytest.mark.parametrize(
    ("pattern", "suffix"),
    [
        ("-svc$", "-svc"),
        ("^team/.*-svc$", "-svc"),
        ("ab*$", ""),
        ("ab+$", ""),
        ("(?m)abc$", ""),
        ("a|bc$", ""),
        ("\\$$", ""),
        ("abc", ""),
        ("x{2}$", ""),
    ],
)
def test_regex_literal_suffix(pattern: str, suffix: str) -> None:
    assert regex_literal_suffix(pattern) == suffix


def test_prefixes_and_suffixes_are_sound_on_samples() -> None:
    samples = ["prod-1", "prod", "xprod-", "ab", "abb", "a", "team/x-svc", "-svc\nx", "abc\n"]
    for pattern in ["^prod-.*", "^ab+", "^ab?", "-svc$", "^team/.*-svc$", "c$"]:
        prefix, suffix = regex_literal_prefix(pattern), regex_literal_suffix(pattern)
        for s in samples:
            if re2.search(pattern, s):
                assert s.startswith(prefix) and s.endswith(suffix), (pattern, s)


def _keys(conditions: list[dict[str, object]]) -> list[tuple[str, ...]] | None:
    compiled, problems = compile_policy(
        Policy.model_validate({"id": "p", "conditions": conditions})
    )
    assert problems == []
    return index_keys(compiled)


def test_index_key_choice() -> None:
    repo = {"type": "repository", "operator": "equals", "value": "team/app"}
    registry = {"type": "registry", "operator": "equals", "value": "hub"}
    assert _keys([registry, repo]) == [("exact", "repository", "team/app")]
    assert _keys([registry]) == [("exact", "registry", "hub")]
    assert _keys([{"type": "tag", "operator": "glob", "value": "*-prod"}]) == [
        ("suffix", "tag", "-prod")
    ]
    assert _keys([{"type": "tag", "operator": "glob", "value": "v1.*"}]) == [
        ("prefix", "tag", "v1.")
    ]
    assert _keys([{"type": "tag", "operator": "glob", "value": "latest"}]) == [
        ("exact", "tag", "latest")
    ]
    assert _keys([{"type": "label", "operator": "equals", "value": "env=prod"}]) == [
        ("exact", "label", "env", "prod")
    ]
    assert _keys([{"type": "tag", "operator": "in", "value": ["a", "b"]}]) == [
        ("exact", "tag", "a"),
        ("exact", "tag", "b"),
    ]
    assert _keys([{"any": [repo, {"type": "tag", "operator": "equals", "value": "v1"}]}]) == [
        ("exact", "repository", "team/app"),
        ("exact", "tag", "v1"),
    ]
    assert _keys([{"any": [repo, {"type": "tag", "operator": "exists"}]}]) is None
    assert _keys([{"type": "tag", "operator": "not_equals", "value": "x"}]) is None
    assert _keys([{"not": repo}]) is None
    assert _keys([]) is None


def test_disabled_policies_are_filed_nowhere() -> None:
    compiled, _ = compile_policy(Policy.model_validate({"id": "off", "enabled": False}))
    on, _ = compile_policy(Policy.model_validate({"id": "on"}))
    index = build_index([compiled, on])
    assert index["always"] == ["on"]
