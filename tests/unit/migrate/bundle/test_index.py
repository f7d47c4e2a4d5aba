"""The candidate index: which key each policy is filed under, and soundness checks."""

from __future__ import annotations

from typing import Any

import pytest
import re2

from migrate.bundle.index import (
    build_index,
    build_index_with_report,
    index_keys,
    regex_literal,
    regex_literal_prefix,
    regex_literal_suffix,
    regex_required_literal,
    regex_segment_prefix,
)
from migrate.policy.model import Policy
from migrate.policy.semantics import compile_policy


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("^prod-.*", "prod-"),
        ("^ab?", "a"),
        ("^ab+", "ab"),
        ("^ab{0,2}", "a"),
        ("^a\\.b", "a.b"),
        ("^a\\d", "a"),
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


def test_not_groups_are_pushed_through_before_choosing_a_key() -> None:
    not_lab = {"type": "label", "operator": "not_equals", "value": "lab.skip=true"}
    assert _keys([{"not": not_lab}]) == [("exact", "label", "lab.skip", "true")]
    assert _keys([{"not": {"not": {"type": "tag", "operator": "equals", "value": "v1"}}}]) == [
        ("exact", "tag", "v1")
    ]
    # not(any(not a, not b)) is all(a, b): either key will do; the tag is more specific
    tag_not = {"type": "tag", "operator": "not_in", "value": ["x"]}
    registry_not = {"type": "registry", "operator": "not_equals", "value": "hub"}
    assert _keys([{"not": {"any": [tag_not, registry_not]}}]) == [("exact", "tag", "x")]
    # not(all(not a, not b)) is any(a, b): filed under one key of each
    assert _keys([{"not": {"all": [tag_not, registry_not]}}]) == [
        ("exact", "registry", "hub"),
        ("exact", "tag", "x"),
    ]
    assert _keys([{"not": {"type": "tag", "operator": "equals", "value": "v1"}}]) is None


def test_string_metadata_is_indexed_by_exact_value() -> None:
    arch = {"type": "metadata", "key": "architecture", "operator": "in", "value": ["s390x"]}
    assert _keys([arch]) == [("exact", "architecture", "s390x")]
    audit = {"type": "label", "operator": "exists", "value": "audit"}
    index = build_index([_compiled("audit", [audit, arch]), _compiled("any", [])])
    assert index["exact"] == {"architecture": {"s390x": ["audit"]}}
    assert index["exact_fields"] == ["architecture"]
    assert index["always"] == ["any"]
    size = {"type": "metadata", "key": "size", "operator": "equals", "value": "1MiB"}
    assert _keys([size]) is None


def test_disabled_policies_are_filed_nowhere() -> None:
    compiled, _ = compile_policy(Policy.model_validate({"id": "off", "enabled": False}))
    on, _ = compile_policy(Policy.model_validate({"id": "on"}))
    index = build_index([compiled, on])
    assert index["always"] == ["on"]


def _compiled(pid: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    compiled, problems = compile_policy(
        Policy.model_validate({"id": pid, "conditions": conditions})
    )
    assert problems == []
    return compiled


def _team(t: int) -> dict[str, object]:
    """The seed's example, one per team: repository glob + tag regex + environment=production."""
    return _compiled(
        f"team-{t}",
        [
            {"type": "repository", "operator": "glob", "value": f"team-{t}/*"},
            {"type": "tag", "operator": "matches", "value": "^prod-.*"},
            {"type": "label", "operator": "equals", "value": "environment=production"},
        ],
    )


def test_key_is_chosen_by_how_few_policies_share_it() -> None:
    index, report, chosen = build_index_with_report([_team(t) for t in range(40)])
    assert chosen["team-7"] == [("prefix", "repository", "team-7/")]
    assert index["exact"] == {}
    assert index["prefix"]["repository"]["team-7/"] == ["team-7"]
    assert report.worst_case == 1  # no team prefix is a prefix of another ("team-1/" vs "team-12/")
    assert report.always == []


def test_composite_key_when_both_keys_are_crowded() -> None:
    # 20 policies on one repository prefix, each with its own label value; 20 on
    # that label value under other prefixes: neither key alone is selective.
    policies = [
        _compiled(
            f"a{i}",
            [
                {"type": "repository", "operator": "matches", "value": "^shared/"},
                {"type": "label", "operator": "equals", "value": f"team=t{i}"},
                {"type": "label", "operator": "equals", "value": "env=prod"},
            ],
        )
        for i in range(20)
    ]
    index, _, chosen = build_index_with_report(policies)
    assert chosen["a3"] == [("exact", "label", "team", "t3")]
    crowded = (
        [
            _compiled(
                f"b{i}",
                [
                    {"type": "repository", "operator": "matches", "value": "^shared/"},
                    {"type": "label", "operator": "equals", "value": "env=prod"},
                ],
            )
            for i in range(20)
        ]
        + [
            _compiled(
                f"c{i}",
                [
                    {"type": "repository", "operator": "matches", "value": f"^other{i}/"},
                    {"type": "label", "operator": "equals", "value": "env=prod"},
                ],
            )
            for i in range(20)
        ]
        + [
            _compiled(
                f"d{i}",
                [
                    {"type": "repository", "operator": "matches", "value": "^shared/"},
                    {"type": "label", "operator": "equals", "value": "env=dev"},
                ],
            )
            for i in range(20)
        ]
    )
    index, _, chosen = build_index_with_report(crowded)
    assert chosen["b0"] == [("composite", "repository", "shared/", "env", "prod")]
    assert index["composite"]["repository"]["shared/"]["env"]["prod"] == sorted(
        f"b{i}" for i in range(20)
    )
    assert index["composite_lengths"] == {"repository": [7]}
    assert chosen["c5"] == [("prefix", "repository", "other5/")]


def test_unanchored_regex_is_indexed_by_its_required_literal() -> None:
    compiled = _compiled(
        "u", [{"type": "repository", "operator": "matches", "value": "team-00042/"}]
    )
    index, report, _ = build_index_with_report([compiled])
    assert index["contains"] == {"repository": {"team-00042/": ["u"]}}
    assert index["contains_lengths"] == {"repository": [11]}
    assert report.always == []


def test_unindexable_policies_are_reported() -> None:
    policies = [
        _compiled(f"g{i}", [{"type": "tag", "operator": "matches", "value": f"(?i)^cve-{i}-"}])
        for i in range(3)
    ]
    _, report, _ = build_index_with_report(policies)
    assert report.always == ["g0", "g1", "g2"]
    assert report.worst_case == 3


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("team-00042/", "team-00042/"),
        ("-hotfix12", "-hotfix12"),
        ("(?i)^cve-1-", ""),
        ("ab{2}c", "a"),
        ("(abc)?defg", "defg"),
        ("[a-z]+foo", "foo"),
        ("abc|def", ""),
        ("x\\x41yz", ""),
        ("a\\.bc", "a.bc"),
        ("ab*cd", "cd"),
    ],
)
def test_regex_required_literal(pattern: str, literal: str) -> None:
    assert regex_required_literal(pattern) == literal


def test_required_literals_are_sound_on_samples() -> None:
    samples = [
        "abbc",
        "ac",
        "xdefg",
        "abcdefg",
        "zfoo",
        "a.bc",
        "axbc",
        "acd",
        "abbbcd",
        "team-00042/x",
    ]
    for pattern in ["ab{2}c", "(abc)?defg", "[a-z]+foo", "a\\.bc", "ab*cd", "team-00042/"]:
        literal = regex_required_literal(pattern)
        for s in samples:
            if re2.search(pattern, s):
                assert literal in s, (pattern, s)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^team-42/", ("prefix", "team-42/")),
        ("team-42/", ("contains", "team-42/")),
        ("-svc$", ("suffix", "-svc")),
        ("^lib$", ("equals", "lib")),
        ("^a\\.b$", ("equals", "a.b")),
        ("^prod-.*", None),
        ("(?i)^x", None),
        ("^ab?", None),
    ],
)
def test_regex_literal(pattern: str, expected: tuple[str, str] | None) -> None:
    assert regex_literal(pattern) == expected
    if expected is not None:  # the string test agrees with RE2 on samples
        kind, text = expected
        for s in ["team-42/x", "xteam-42/", "a/b-svc", "lib", "libx", "a.b", "axb", "", "-svc"]:
            holds = {
                "prefix": s.startswith(text),
                "contains": text in s,
                "suffix": s.endswith(text),
                "equals": s == text,
            }[kind]
            assert holds == bool(re2.search(pattern, s)), (pattern, s)


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("^team-42/[^/]*$", "team-42/"),
        ("^team\\-42/api[^/]*$", "team-42/api"),
        ("^[^/]*$", ""),
        ("^a.b[^/]*$", None),
        ("^a[^/]*/x[^/]*$", None),
        ("team/[^/]*$", None),
        ("^a\\[^/]*$", None),
        ("^ab?[^/]*$", None),
    ],
)
def test_regex_segment_prefix(pattern: str, literal: str | None) -> None:
    assert regex_segment_prefix(pattern) == literal
    if literal is not None:  # the same strings as the regex (RE2 is OPA's dialect)
        for text in [literal, literal + "x", literal + "x/y", "z" + literal, literal[:-1]]:
            holds = text.startswith(literal) and "/" not in text[len(literal) :]
            assert holds == bool(re2.search(pattern, text)), text
