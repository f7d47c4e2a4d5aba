"""Regexes mean the same in OPA (Go, the reference) and the embedded engine (Rust).

The property test generates patterns and subjects (non-ASCII ones included),
asks the real reference ``opa`` (Go's regexp) and regorus (Rust's regex, given
the translated pattern) and requires: our check accepts exactly what Go accepts
(unless it names Rust as the refusing engine), and both engines decide every
subject alike. Reproduced on main first: tag 'ΑΒΓ' matched '\\b' in regorus
and not in OPA; '\\C' passed validate; '^.{129,}$' broke regorus only.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import regorus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.bundle.builder import BundleBuilder
from migrate.bundle.decides import check_bundle_decides
from migrate.patterns.dialect import GO, RUST, RegexRefused, check_regex, to_rust
from migrate.policy.loader import parse_policy_text

SUBJECTS = [
    "\u0391\u0392\u0393",
    "\u00e9",
    "\u0663",
    "\v",
    " ",
    "\u212a",
    "k",
    "\u017f",
    "_",
    "-",
    "[",
    "&",
    "<",
    "a{,5}",
    "v1.2.3",
    "prod-x",
    "",
    "Ab9",
    "x y",
    "\n",
]


def _opa(
    opa_bin: str, cases: list[tuple[str, list[str]]]
) -> tuple[list[bool], dict[str, list[bool]]]:
    payload = json.dumps({"cases": cases})
    query = (
        "v := [regex.is_valid(c[0]) | some c in input.cases]; "
        'm := {sprintf("%d", [i]): [regex.match(c[0], s) | some s in c[1]] | '
        "some i, c in input.cases; regex.is_valid(c[0])}"
    )
    proc = subprocess.run(
        [opa_bin, "eval", "-I", "-f", "json", query],
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    bindings = json.loads(proc.stdout)["result"][0]["bindings"]
    return bindings["v"], bindings["m"]


def _regorus(cases: list[tuple[str, list[str]]]) -> list[list[bool]]:
    engine = regorus.Engine()
    engine.set_input_json(json.dumps({"cases": cases}))
    result = json.loads(
        engine.eval_query_as_json(
            "m := [[regex.match(c[0], s) | some s in c[1]] | some c in input.cases]"
        )
    )
    value: list[list[bool]] = result["result"][0]["bindings"]["m"]
    return value


def _ours(pattern: str) -> str | None:
    """None when accepted, else the refusing engine."""
    try:
        check_regex(pattern)
    except RegexRefused as exc:
        return exc.engine
    return None


def _compare(opa_bin: str, patterns: list[str], subjects: list[str]) -> None:
    cases = [(p, subjects) for p in patterns]
    valid, go_matches = _opa(opa_bin, cases)
    accepted: list[tuple[int, str]] = []
    for i, pattern in enumerate(patterns):
        refused_by = _ours(pattern)
        if not valid[i]:
            assert refused_by in {GO, "both engines"}, (pattern, refused_by)
        else:
            assert refused_by in {None, RUST}, (pattern, refused_by)
            if refused_by is None:
                accepted.append((i, pattern))
    rust = _regorus([(to_rust(p), subjects) for _, p in accepted])
    for (i, pattern), rust_row in zip(accepted, rust, strict=True):
        go_row = go_matches[str(i)]
        assert go_row == rust_row, (
            pattern,
            to_rust(pattern),
            [(s, g, r) for s, g, r in zip(subjects, go_row, rust_row, strict=True) if g != r],
        )


KNOWN = [
    r"\b",
    r"\B",
    r"^\w+$",
    r"\W",
    r"^\d$",
    r"\D",
    r"^\s$",
    r"\S",
    r"[[]",
    r"[a&&b]",
    r"[a--b]",
    r"[a~~b]",
    r"\<",
    r"\>",
    r"a{,5}",
    r"\b{start}",
    r"\Q.*\E",
    r"\101",
    r"(?)a",
    r"(?i)\w",
    r"(?i)k",
    r"[^\D]",
    r"[\W]",
    r"(?i)[[:upper:]]",
    r"[[:^alpha:]]",
    r"\pL",
    r"\p{Greek}+",
    r"\PL",
    r"(?s).",
    r"(?m)^x$",
    r"(?U)a+",
    r"x*?",
    r"[\s]",
    r"[^\s]",
    r"\C",
    r"a**",
    r"\Z",
    r"(?x)a",
    r"\e",
    r"\8",
    r"[\b]",
    r"^.{129,}$",
    r"\w{1000}",
    r"[a-]",
    r"[]a]",
    r"[^]a]",
    r"\x{212A}",
    r"\x41",
    r"\0",
    r"\_",
    r"\ ",
    r"(?P<n>a)",
    r"(?<n>a)",
    r"a|",
    r"()",
]


def test_known_divergences_agree(opa_bin: str) -> None:
    _compare(opa_bin, KNOWN, SUBJECTS)


def test_refusals_name_the_engine_and_why() -> None:
    cases = {
        r"\C": (GO, r"invalid escape sequence \C (Go does not support it)"),
        r"a**": (GO, "bad repetition operator: **"),
        r"^.{129,}$": (RUST, "compiled regex exceeded size limit (102400 bytes)"),
        "x" * 5000: ("both engines", "regex is 5000 characters; at most 4096"),
    }
    for pattern, (engine, message) in cases.items():
        with pytest.raises(RegexRefused) as info:
            check_regex(pattern)
        assert (info.value.engine, str(info.value)) == (engine, message)
    assert check_regex(r"\w{1000}") == r"\w{1000}"  # Unicode \w{1000} broke regorus; ASCII fits
    assert to_rust(r"\bv\d+\s\w") == r"(?-u:\b)v[0-9]+[\x{09}\x{0A}\x{0C}\x{0D}\x{20}][0-9A-Za-z_]"


_ATOMS = st.sampled_from(
    [
        "a",
        "k",
        "K",
        "\u0391",
        "\u00e9",
        "_",
        "-",
        ".",
        "^",
        "$",
        r"\b",
        r"\B",
        r"\w",
        r"\W",
        r"\d",
        r"\D",
        r"\s",
        r"\S",
        r"\pL",
        r"\p{Greek}",
        r"\PN",
        "[a-c]",
        r"[^\w]",
        r"[\d_]",
        "[[]",
        "[&&]",
        "[[:alpha:]]",
        "[[:^space:]]",
        r"\Q.[\E",
        r"\<",
        "{",
        "}",
        "{,2}",
        r"\v",
        r"\x{391}",
        r"\101",
        " ",
        "(?i)",
        "(?i:k)",
        "(?s:.)",
        "\u017f",
    ]
)


@st.composite
def _patterns(draw: Any) -> str:
    pieces = draw(st.lists(_ATOMS, min_size=1, max_size=5))
    out = ""
    for piece in pieces:
        out += piece + draw(st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,3}"]))
    if draw(st.booleans()):
        out = f"({out})|" + draw(_ATOMS)
    return out


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    patterns=st.lists(_patterns(), min_size=40, max_size=40),
    extra=st.lists(
        st.text(
            alphabet=st.sampled_from(
                list("aAkK_- .[&<{}\u0391\u0392\u0393\u00e9\u0663\u212a\u017f\v\n0")
            ),
            max_size=6,
        ),
        max_size=6,
    ),
)
def test_property_go_and_rust_decide_alike(
    opa_bin: str, patterns: list[str], extra: list[str]
) -> None:
    _compare(opa_bin, patterns, SUBJECTS + extra)


def test_generated_tests_exercise_every_regex_and_bundles_must_decide() -> None:
    text = (
        "policies:\n  - id: p\n    conditions:\n"
        "      - {type: tag, operator: matches, value: '^v[0-9]+'}\n"
        "      - {type: label, key: team, operator: not_matches, value: '\\bops\\b'}\n"
        "      - {type: repository, operator: glob, value: 'team/*'}\n"
        "    actions:\n      - {type: block}\n"
    )
    bundle = BundleBuilder().build(parse_policy_text(text, "p.yaml"))
    [module] = [t for p, t in bundle.modules().items() if p.startswith("freightliner/generated/")]
    for leaf in range(3):
        assert f"test_condition_{leaf}_" in module
    check_bundle_decides(bundle)  # passes
    data = bundle.data()
    data["freightliner"]["policy_set"]["policies"]["p"]["leaves"][0]["arg"] = "^.{129,}$"
    files = dict(bundle.files)
    files["data.json"] = json.dumps(data).encode()
    from migrate.bundle.builder import Bundle
    from migrate.core.errors import BundleError

    with pytest.raises(BundleError) as info:
        check_bundle_decides(Bundle(files, bundle.revision))
    assert str(info.value) == (
        "p.yaml:2: policy 'p': the embedded engine fails to decide a synthetic image: "
        "compiled regex exceeded size limit (102400 bytes)"
    )
