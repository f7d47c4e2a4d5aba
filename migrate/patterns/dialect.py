"""One regex dialect for both decision engines: Go's (OPA) is the reference.

A policy's ``matches`` pattern (and every regex a ``glob`` compiles to) is run
by OPA (Go's ``regexp``, RE2 syntax) and by the embedded engine (regorus, Rust's
``regex`` crate). The two differ:

* classes and assertions: Go's ``\\d \\w \\s \\b`` are ASCII, Rust's are Unicode
  (tag ``ΑΒΓ`` matches ``\\b`` in Rust, not in Go); Go's ``\\s`` leaves out
  ``\\v``;
* syntax Go reads as literals that Rust gives a meaning: ``[`` ``&&`` ``--``
  ``~~`` in a class (Rust: nested classes, set operations), ``\\<`` ``\\>``
  (Rust: word boundaries), ``{`` not starting a repetition (``a{,5}``),
  ``\\b{start}``;
* syntax only Go has: ``\\Q...\\E``, octal escapes ``\\101``, ``(?)``;
* limits: Rust refuses patterns whose compiled form passes regorus's size
  limit (``^.{129,}$``, Unicode ``\\w{1000}``).

:func:`check_regex` accepts a pattern only when Go accepts it (C++ RE2 -
google-re2 - for the syntax both share, plus the constructs Go refuses and
RE2 accepts, such as ``\\C``) *and* regorus accepts its translation.
:func:`to_rust` is that translation: the same language as Go's pattern, written
for Rust (ASCII classes spelled out, ``(?-u:\\b)``, every ASCII punctuation
literal as ``\\x{..}``). Bundles keep Go's pattern (OPA reads them as built);
the embedded engine translates the regex fields when it loads a bundle
(:func:`rust_policy_data`).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from typing import Any

import re2
import regorus

from migrate.core.engine_message import engine_message
from migrate.core.limits import MAX_REGEX_LENGTH

__all__ = ["RegexRefused", "check_regex", "go_refusal", "rust_error", "rust_policy_data", "to_rust"]


class RegexRefused(ValueError):
    """A pattern one of the engines refuses; ``engine`` names it, the message says why."""

    def __init__(self, engine: str, message: str) -> None:
        super().__init__(message)
        self.engine = engine


GO = "Go's regexp (OPA)"
RUST = "Rust's regex (embedded engine, regorus)"

_DIGIT = "0-9"
_WORD = "0-9A-Za-z_"
_SPACE = r"\x{09}\x{0A}\x{0C}\x{0D}\x{20}"  # Go's \s: [\t\n\f\r ] (no \v)
_PERL = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
_NAMED = {
    "alnum",
    "alpha",
    "ascii",
    "blank",
    "cntrl",
    "digit",
    "graph",
    "lower",
    "print",
    "punct",
    "space",
    "upper",
    "word",
    "xdigit",
}
_SIMPLE = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_HEX = set("0123456789abcdefABCDEF")


def _lit(code: int) -> str:
    """One character as a Rust literal: ASCII alphanumerics as themselves, every
    other ASCII character as ``\\x{..}`` (no Rust meta meaning can apply), the rest
    verbatim (non-ASCII characters have no meta meaning in Rust)."""
    char = chr(code)
    if char.isascii() and char.isalnum():
        return char
    if code < 0x80:
        return f"\\x{{{code:02X}}}"
    if 0xD800 <= code <= 0xDFFF:  # not a character: Rust refuses it, Go never matches it
        return f"\\x{{{code:X}}}"
    return char


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def fail(self, message: str) -> RegexRefused:
        return RegexRefused(GO, message)

    def escape_char(self) -> int:
        """Go's parseEscape at ``self.i`` (just after the backslash): one character."""
        p, i = self.p, self.i
        if i >= len(p):
            raise self.fail("trailing backslash")
        c = p[i]
        if (c in "1234567" and i + 1 < len(p) and p[i + 1] in "01234567") or c == "0":
            j = i
            while j < len(p) and j < i + 3 and p[j] in "01234567":
                j += 1
            self.i = j
            return int(p[i:j], 8)
        if c == "x":
            if p.startswith("{", i + 1):
                end = p.find("}", i + 2)
                digits = p[i + 2 : end] if end != -1 else ""
                if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                    raise self.fail(f"invalid escape sequence \\x{p[i + 1 : i + 12]}")
                self.i = end + 1
                return int(digits, 16)
            digits = p[i + 1 : i + 3]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                raise self.fail(f"invalid escape sequence \\x{digits}")
            self.i = i + 3
            return int(digits, 16)
        if c in _SIMPLE:
            self.i = i + 1
            return _SIMPLE[c]
        if c.isascii() and not c.isalnum():
            self.i = i + 1
            return ord(c)
        raise self.fail(f"invalid escape sequence \\{c}")

    def unicode_class(self) -> str:
        """``\\pL``, ``\\p{Greek}``, ``\\P{^Lu}`` (at ``self.i`` = the p/P): passed on."""
        p, i = self.p, self.i
        if p.startswith("{", i + 1):
            end = p.find("}", i + 2)
            if end == -1:
                raise self.fail("invalid character class range")
            self.i = end + 1
        else:
            self.i = i + 2
        return p[i - 1 : self.i]

    def perl_class(self, letter: str, in_class: bool) -> str:
        ranges = _PERL[letter.lower()]
        negated = letter.isupper()
        if in_class and not negated:
            return ranges
        return f"[{'^' if negated else ''}{ranges}]"

    def char_class(self) -> str:
        """A class from ``self.i`` (just after ``[``), parsed as Go does."""
        p = self.p
        out = ["["]
        if p.startswith("^", self.i):
            out.append("^")
            self.i += 1
        first = True
        while True:
            if self.i >= len(p):
                raise self.fail("missing closing ]")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if p.startswith("[:", self.i):
                end = p.find(":]", self.i + 2)
                if end != -1:
                    name = p[self.i + 2 : end]
                    if name.removeprefix("^") not in _NAMED:
                        raise self.fail(f"invalid character class range [:{name}:]")
                    out.append(f"[:{name}:]")
                    self.i = end + 2
                    continue
            if c == "\\" and self.i + 1 < len(p):
                nxt = p[self.i + 1]
                if nxt in "pP":
                    self.i += 1
                    out.append(self.unicode_class())
                    continue
                if nxt in "dDwWsS":
                    self.i += 2
                    out.append(self.perl_class(nxt, in_class=True))
                    continue
            lo = self.class_char()
            hi = lo
            if p.startswith("-", self.i) and self.i + 1 < len(p) and p[self.i + 1] != "]":
                self.i += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.fail("invalid character class range")
            out.append(_lit(lo) if hi == lo else f"{_lit(lo)}-{_lit(hi)}")
        out.append("]")
        return "".join(out)

    def class_char(self) -> int:
        c = self.p[self.i]
        self.i += 1
        if c == "\\":
            return self.escape_char()
        return ord(c)

    def group(self) -> str:
        """``(``, ``(?:``, ``(?flags)``, ``(?flags:``, ``(?P<name>``, ``(?<name>``."""
        p, i = self.p, self.i
        if not p.startswith("?", i):
            return "("
        for lead in ("?P<", "?<"):
            if p.startswith(lead, i):
                end = p.find(">", i)
                name = p[i + len(lead) : end] if end != -1 else ""
                if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                    raise self.fail("invalid named capture")
                self.i = end + 1
                return f"(?P<{name}>"
        j = i + 1
        while j < len(p) and p[j] in "imsU-":
            j += 1
        if j >= len(p) or p[j] not in ":)":
            raise self.fail(f"invalid or unsupported Perl syntax: ({p[i : j + 1]}")
        flags = p[i + 1 : j]
        self.i = j + 1
        if p[j] == ")":
            return f"(?{flags})" if flags else ""  # Go accepts "(?)"; Rust does not
        return f"(?{flags}:"

    def repeat(self) -> str | None:
        """``{n}``, ``{n,}``, ``{n,m}`` at ``self.i`` (the ``{``), or None (a literal ``{``)."""
        p, j = self.p, self.i + 1
        start = j
        while j < len(p) and p[j].isdigit():
            j += 1
        if j == start:
            return None
        if j < len(p) and p[j] == ",":
            j += 1
            while j < len(p) and p[j].isdigit():
                j += 1
        if j >= len(p) or p[j] != "}":
            return None
        text = p[self.i : j + 1]
        self.i = j + 1
        return text

    def translate(self) -> str:
        p = self.p
        out: list[str] = []
        while self.i < len(p):
            c = p[self.i]
            self.i += 1
            if c == "\\":
                if self.i >= len(p):
                    raise self.fail("trailing backslash at end of expression")
                nxt = p[self.i]
                if nxt in "Az":
                    self.i += 1
                    out.append("\\" + nxt)
                elif nxt in "bB":
                    self.i += 1
                    out.append(f"(?-u:\\{nxt})")
                elif nxt == "C":
                    raise self.fail("invalid escape sequence \\C (Go does not support it)")
                elif nxt == "Q":
                    end = p.find("\\E", self.i + 1)
                    literal = p[self.i + 1 :] if end == -1 else p[self.i + 1 : end]
                    out.extend(_lit(ord(ch)) for ch in literal)
                    self.i = len(p) if end == -1 else end + 2
                elif nxt in "pP":
                    out.append(self.unicode_class())
                elif nxt in "dDwWsS":
                    self.i += 1
                    out.append(self.perl_class(nxt, in_class=False))
                else:
                    out.append(_lit(self.escape_char()))
            elif c == "[":
                out.append(self.char_class())
            elif c == "(":
                out.append(self.group())
            elif c == "{":
                self.i -= 1
                counted = self.repeat()
                if counted is None:
                    self.i += 1
                    out.append(_lit(ord("{")))
                else:
                    out.append(counted)
            elif c in "*+?|)^$.":
                out.append(c)
            else:
                out.append(_lit(ord(c)))
        return "".join(out)


_SURROGATE = re.compile("[\ud800-\udfff]")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _check_go(pattern: str) -> None:
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        detail = (
            exc.args[0].decode("utf-8", "replace")
            if exc.args and isinstance(exc.args[0], bytes)
            else str(exc)
        )
        raise RegexRefused(GO, detail) from None


def to_rust(pattern: str) -> str:
    """Go's pattern written for Rust's regex crate with the same meaning.

    Raises :class:`RegexRefused` for a pattern Go would refuse (as far as the
    translation reads it: the full check is :func:`check_regex`).
    """
    return _Translator(pattern).translate()


_local = threading.local()
_CHECK_MODULE = 'package freightliner_dialect_check\n\nok := regex.match(input.p, "")\n'


def _rust_engine() -> Any:
    engine = getattr(_local, "engine", None)
    if engine is None:  # a prepared rule: ~7x cheaper than a query per pattern
        engine = _local.engine = regorus.Engine()
        engine.add_policy("dialect_check.rego", _CHECK_MODULE)
    return engine


def rust_error(pattern: str) -> str | None:
    """Why regorus refuses a (Rust) pattern, or None when it compiles."""
    engine = _rust_engine()
    try:
        engine.set_input_json(json.dumps({"p": pattern}))
        engine.eval_rule("data.freightliner_dialect_check.ok")
    except BaseException as exc:  # regorus raises RuntimeError (and panics as PanicException)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return engine_message(exc).split(" (at dialect_check.rego")[0]
    return None


def check_regex(pattern: str) -> str:
    """``pattern`` when both engines accept it; else :class:`RegexRefused` saying which and why."""
    refusal = _refusal(pattern)
    if refusal is not None:
        raise RegexRefused(*refusal)
    return pattern


def go_refusal(pattern: str) -> str | None:
    """Why Go's regexp refuses ``pattern`` (what OPA and legacy Freightliner's
    ``regexp.Compile`` say no to), or None when Go compiles it."""
    refusal = _refusal(pattern)
    return refusal[1] if refusal is not None and refusal[0] == GO else None


@functools.lru_cache(maxsize=65536)  # validate and build both check every pattern
def _refusal(pattern: str) -> tuple[str, str] | None:
    if len(pattern) > MAX_REGEX_LENGTH:
        return "both engines", f"regex is {len(pattern)} characters; at most {MAX_REGEX_LENGTH}"
    if _SURROGATE.search(pattern):
        return "both engines", "regex contains a lone surrogate (not a character)"
    try:
        _check_go(pattern)
        rust = to_rust(pattern)
    except RegexRefused as exc:
        return exc.engine, str(exc)
    error = rust_error(rust)
    if error is not None:
        return RUST, error
    return None


def _rust_leaves(leaves: Any) -> Any:
    """A list of leaf-shaped entries with each ``base: matches`` argument translated."""
    if not isinstance(leaves, list) or not any(
        isinstance(leaf, dict) and leaf.get("base") == "matches" for leaf in leaves
    ):
        return leaves
    return [
        {**leaf, "arg": to_rust(leaf["arg"])}
        if isinstance(leaf, dict)
        and leaf.get("base") == "matches"
        and isinstance(leaf.get("arg"), str)
        else leaf
        for leaf in leaves
    ]


#: Where the compiled form keeps regex leaves (docs/policies.md, "The compiled form"):
#: each policy's ``leaves`` (and their reordered copies in each list of
#: ``alternatives``, handled beside these), and the index's
#: ``guarded`` entries (a policy's first check, evaluated for every image).
_LEAF_LISTS = ("leaves",)


def rust_policy_data(data: dict[str, Any]) -> dict[str, Any]:
    """A bundle's data with every regex leaf argument (``base: matches``) translated
    for the embedded engine, wherever the compiled form keeps one (:data:`_LEAF_LISTS`
    of each policy, ``index.guarded``); the input is not changed. Raises RegexRefused."""
    policy_set_in = data.get("freightliner", {}).get("policy_set", {})
    policies = policy_set_in.get("policies") if isinstance(policy_set_in, dict) else None
    if not isinstance(policies, dict):
        return data
    result = dict(data)
    result["freightliner"] = dict(data["freightliner"])
    result["freightliner"]["policy_set"] = policy_set = dict(policy_set_in)
    translated: dict[str, Any] = {}
    for policy_id, policy in policies.items():
        if isinstance(policy, dict):
            policy = {**policy, **{k: _rust_leaves(policy[k]) for k in _LEAF_LISTS if k in policy}}
            if isinstance(policy.get("alternatives"), list):
                policy["alternatives"] = [_rust_leaves(a) for a in policy["alternatives"]]
        translated[policy_id] = policy
    policy_set["policies"] = translated
    index = policy_set.get("index")
    if isinstance(index, dict) and "guarded" in index:
        policy_set["index"] = {**index, "guarded": _rust_leaves(index["guarded"])}
    return result
