"""Go filepath.Match port, validation, and the exact glob → RE2 translation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import re2
import regorus
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from migrate.patterns._glob_dfa import GlobAutomaton, exact_regex
from migrate.patterns._glob_syntax import parse_pattern
from migrate.patterns.glob import (
    BadPattern,
    filepath_match,
    glob_to_re2,
    go_match,
    is_valid_glob,
    needs_exact_translation,
)

# Go's own table (src/path/filepath/match_test.go), ErrBadPattern as None.
GO_TABLE: list[tuple[str, str, bool | None]] = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "\u03b1", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[x-]", "-", None),
    ("[x-]", "z", None),
    ("[-x]", "x", None),
    ("[-x]", "-", None),
    ("[-x]", "a", None),
    ("\\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("a[", "ab", None),
    ("a[", "x", None),
    ("a/b[", "x", None),
    ("*x", "xxx", True),
    # Go's quirks, kept on purpose.
    ("*??", "€", True),  # the star skips bytes: "??" eats two continuation bytes
    ("*[^a]*c", "b/c", False),  # leftmost commit: [^a] takes "b", the star cannot cross "/"
    ("[!x]", "!", True),  # "!" is a literal, not a negation
    ("{a,b}", "a", False),  # no brace expansion
    ("[z-a]", "m", False),  # an empty range matches nothing, and is not malformed
    ("a*\\", "ab", None),  # trailing backslash: malformed
    ("x*[", "y", None),  # malformed part after an early mismatch: still ErrBadPattern
]


@pytest.mark.parametrize(("pattern", "name", "expected"), GO_TABLE)
def test_go_table(pattern: str, name: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(BadPattern):
            go_match(pattern, name)
        assert filepath_match(pattern, name) is False
        assert is_valid_glob(pattern) is False
        assert glob_to_re2(pattern) is None
        return
    assert go_match(pattern, name) is expected
    regex = glob_to_re2(pattern)
    assert regex is not None
    assert (re2.search(regex, name) is not None) is expected


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("library/*", "^library/[^/]*$"),
        ("*", "^[^/]*$"),
        ("team-*/app.?", "^team-[^/]*/app\\.[^/]$"),
        ("v[0-9]*", "^v[0-9][^/]*$"),
        ("a/*/b*", "^a/[^/]*/b[^/]*$"),
        ("*-prod", "^[^/]*-prod$"),
        ("[^a-z]x*", "^[^a-z]x[^/]*$"),
        ("{a,b}*", "^\\{a,b\\}[^/]*$"),
    ],
)
def test_readable_translation(pattern: str, regex: str) -> None:
    assert glob_to_re2(pattern) == regex


_PATTERN_ALPHABET = st.sampled_from(list("abx/**?[]^!-\\{,}é€𝄞\ufffd."))
_NAME_ALPHABET = st.sampled_from(list("abx/-^!\\*?[]é€𝄞\ufffd\n.{"))
patterns = st.lists(_PATTERN_ALPHABET, max_size=8).map("".join)
names = st.lists(_NAME_ALPHABET, max_size=8).map("".join)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns, st.lists(names, min_size=1, max_size=8))
@example("*[^a]*c", ["b/c", "bxc", "b/xc"])
@example("*??", ["€", "é", "ab", "𝄞"])
@example("a*[/]b*", ["ax/b", "a/b", "a//b"])
def test_regex_equals_go_match(pattern: str, probe: list[str]) -> None:
    chunks = parse_pattern(pattern)
    assert (chunks is None) == (not is_valid_glob(pattern))
    regex = glob_to_re2(pattern)
    if chunks is None:
        assert regex is None
        assert not any(filepath_match(pattern, n) for n in probe)
        return
    assert regex is not None
    compiled = re2.compile(regex)
    exact = re2.compile(exact_regex(chunks))
    automaton = GlobAutomaton(chunks)
    for name in probe:
        expected = filepath_match(pattern, name)
        assert automaton.matches(name) is expected, (pattern, name)
        assert (compiled.search(name) is not None) is expected, (pattern, name, regex)
        assert (exact.search(name) is not None) is expected, (pattern, name)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=6), st.text(max_size=6))
def test_arbitrary_unicode(pattern: str, name: str) -> None:
    regex = glob_to_re2(pattern)
    expected = filepath_match(pattern, name)
    assert (regex is not None and re2.search(regex, name) is not None) is expected


def test_hazards_take_the_exact_path() -> None:
    for pattern in ["*??", "*[^a]*c", "*?", "x*[^/]y*"]:
        chunks = parse_pattern(pattern)
        assert chunks is not None
        assert needs_exact_translation(chunks), pattern
    for pattern in ["a*/b*", "*x?", "a*[/]b*", "*[0-9]"]:
        chunks = parse_pattern(pattern)
        assert chunks is not None
        assert not needs_exact_translation(chunks), pattern


def _corpus() -> list[tuple[str, str, bool]]:
    rows: list[tuple[str, str, bool]] = []
    extra = ["*??", "*[^a]*c", "*[^x]", "a*b?c*x", "[!x]*", "*\\*a", "*[^/]x*", "[z-a]*"]
    names = ["", "a", "ab", "a/b", "b/c", "€", "é", "𝄞", "x!", "!x", "a*a", "xyzx"]
    for pattern, name, expected in GO_TABLE:
        if expected is not None:
            rows.append((pattern, name, expected))
    for pattern in extra:
        for name in names:
            rows.append((pattern, name, filepath_match(pattern, name)))
    return rows


def test_engines_agree_with_go(tmp_path: Path, opa_bin: str) -> None:
    """The regexes behave the same in OPA's Go regexp and the embedded Rust engine."""
    rows = _corpus()
    cases = [[glob_to_re2(p), n] for p, n, _ in rows]
    policy = (
        "package globcheck\n\n"
        "r := [regex.match(p, n) | some c in input.cases; p := c[0]; n := c[1]]\n"
    )
    (tmp_path / "check.rego").write_text(policy)
    (tmp_path / "input.json").write_text(json.dumps({"cases": cases}))
    out = subprocess.run(
        [
            opa_bin,
            "eval",
            "-d",
            str(tmp_path / "check.rego"),
            "-i",
            str(tmp_path / "input.json"),
            "-f",
            "json",
            "data.globcheck.r",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    opa_values = json.loads(out.stdout)["result"][0]["expressions"][0]["value"]
    engine = regorus.Engine()
    engine.add_policy("check.rego", policy)
    engine.set_input_json(json.dumps({"cases": cases}))
    rust_values = engine.eval_query("data.globcheck.r")["result"][0]["expressions"][0]["value"]
    expected = [e for _, _, e in rows]
    assert opa_values == expected
    assert rust_values == expected
