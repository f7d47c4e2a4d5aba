"""Legacy ``semver_constraint``: Masterminds/semver v3 as the legacy sync used it.

Written from the Go source (read, not copied):

* ``pkg/sync/semver.go`` (hemzaz/freightliner): ``NewSemverFilter`` →
  ``semver.NewConstraint``; ``parseVersion`` tries ``semver.NewVersion(tag)``,
  then strips the *first* of ``v``, ``release-``, ``version-``, ``ver-`` that
  the lower-cased tag starts with and tries again. ``v`` is tested first, so a
  tag ``version-1.2.3`` becomes ``ersion-1.2.3`` and is not a version (the
  ``version-``/``ver-`` entries can never apply). ``FilterAndSort`` keeps the
  tags that parse and satisfy the constraint, sorted by version, newest first.
* Masterminds/semver v3 ``constraints.go`` (``NewConstraint``,
  ``parseConstraint``, ``rewriteRange`` and the constraint functions) and
  ``version.go`` (``NewVersion``: the loose regex, ``ParseUint`` 64-bit
  segments, ``validatePrerelease``; ``Compare``, ``comparePrerelease``).

The patterns are Masterminds' own, compiled with RE2 (the engine Go's
``regexp`` implements: the same leftmost-first submatches, ASCII ``\\s``, ``$``
at the end of the text only, and linear time on hostile constraint strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2

__all__ = [
    "Constraint",
    "InvalidConstraint",
    "Version",
    "check",
    "compare",
    "compile_constraint",
    "legacy_parse_tag",
    "new_constraint",
    "new_version",
    "semver_filter",
    "semver_selects",
]

_S = r"\s"
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CONSTRAINT = re2.compile(rf"^{_S}*({_OPS}){_S}*({_CV}){_S}*$", _OPTIONS)
_RANGE = re2.compile(rf"{_S}*({_CV}){_S}+-{_S}+({_CV}){_S}*", _OPTIONS)
_FIND = re2.compile(rf"({_OPS}){_S}*({_CV})", _OPTIONS)
_VALID = re2.compile(
    rf"^({_S}*({_OPS}){_S}*({_CV}){_S}*)((?:{_S}+|,{_S}*)({_OPS}){_S}*({_CV}){_S}*)*$",
    _OPTIONS,
)
_VERSION = re2.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$",
    _OPTIONS,
)
_UINT64_MAX = 2**64 - 1
_OP_NAMES = {
    "": "eq",
    "=": "eq",
    "!=": "ne",
    ">": "gt",
    "<": "lt",
    ">=": "ge",
    "=>": "ge",
    "<=": "le",
    "=<": "le",
    "~": "tilde",
    "~>": "tilde",
    "^": "caret",
}


class InvalidConstraint(ValueError):
    """``semver.NewConstraint`` failed: legacy skips the image (resolveTags error)."""


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: str = ""


def _uint(text: str) -> int | None:
    """Go ``strconv.ParseUint(text, 10, 64)``: digits only, at most 2**64-1."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _UINT64_MAX else None


def new_version(text: str) -> Version | None:
    """``semver.NewVersion`` (loose: ``v`` prefix, missing minor/patch are 0)."""
    m = _VERSION.search(text)
    if m is None:
        return None
    parts = [_uint(m.group(1)), _uint((m.group(2) or ".0")[1:]), _uint((m.group(3) or ".0")[1:])]
    if any(p is None for p in parts):
        return None
    pre = m.group(5) or ""
    for part in pre.split(".") if pre else ():
        if part.isdigit() and len(part) > 1 and part[0] == "0":
            return None  # ErrSegmentStartsZero
    major, minor, patch = (p for p in parts if p is not None)
    return Version(major, minor, patch, pre)


def _compare_pre_part(s: str, o: str) -> int:
    if s == o:
        return 0
    if s == "":
        return -1
    if o == "":
        return 1
    si, oi = _uint(s), _uint(o)
    if si is None and oi is None:
        return 1 if s > o else -1
    if oi is None:
        return -1
    if si is None:
        return 1
    return 1 if si > oi else -1


def _compare_pre(a: str, b: str) -> int:
    sa, sb = a.split("."), b.split(".")
    for i in range(max(len(sa), len(sb))):
        d = _compare_pre_part(sa[i] if i < len(sa) else "", sb[i] if i < len(sb) else "")
        if d:
            return d
    return 0


def compare(v: Version, o: Version) -> int:
    for x, y in ((v.major, o.major), (v.minor, o.minor), (v.patch, o.patch)):
        if x != y:
            return -1 if x < y else 1
    if v.pre == "" and o.pre == "":
        return 0
    if v.pre == "":
        return 1
    if o.pre == "":
        return -1
    return _compare_pre(v.pre, o.pre)


@dataclass(frozen=True)
class Constraint:
    op: str  # eq ne gt lt ge le tilde caret
    con: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool


def _is_x(text: str) -> bool:
    return text in ("x", "X", "*")


def _parse_constraint(text: str) -> Constraint:
    m = _CONSTRAINT.search(text)
    if m is None:
        raise InvalidConstraint(f"improper constraint: {text}")
    ver, pre = m.group(2), m.group(6) or ""
    minor, patch = m.group(4) or "", m.group(5) or ""
    dirty = minor_dirty = patch_dirty = False
    if _is_x(m.group(3)):
        ver, dirty = f"0.0.0{pre}", True
    elif _is_x(minor.removeprefix(".")) or minor == "":
        ver, dirty, minor_dirty = f"{m.group(3)}.0.0{pre}", True, True
    elif _is_x(patch.removeprefix(".")) or patch == "":
        ver, dirty, patch_dirty = f"{m.group(3)}{minor}.0{pre}", True, True
    con = new_version(ver)
    if con is None:
        raise InvalidConstraint("constraint Parser Error")
    return Constraint(_OP_NAMES[m.group(1)], con, dirty, minor_dirty, patch_dirty)


def _rewrite_range(text: str) -> str:
    out = text
    for m in _RANGE.finditer(text):
        out = out.replace(m.group(0), f">= {m.group(1)}, <= {m.group(11)}", 1)
    return out


def new_constraint(text: str) -> list[list[Constraint]]:
    """``semver.NewConstraint``: OR groups (``||``) of AND-ed constraints."""
    groups: list[list[Constraint]] = []
    for part in _rewrite_range(text).split("||"):
        if _VALID.search(part) is None:
            raise InvalidConstraint(f"improper constraint: {part}")
        found = [m.group(0) for m in _FIND.finditer(part)] or [part]
        groups.append([_parse_constraint(s) for s in found])
    return groups


def _check(v: Version, c: Constraint) -> bool:
    con = c.con
    if v.pre and not con.pre:
        return False  # every constraint function refuses prereleases the constraint lacks
    if c.op == "ne":
        if c.dirty:
            if con.major != v.major:
                return True
            if con.minor != v.minor and not c.minor_dirty:
                return True
            if c.minor_dirty:
                return False
            if con.patch != v.patch and not c.patch_dirty:
                return True
            if c.patch_dirty:
                if v.pre or con.pre:
                    return _compare_pre(v.pre, con.pre) != 0
                return False
        return compare(v, con) != 0
    if c.op == "gt":
        if not c.dirty:
            return compare(v, con) == 1
        if v.major != con.major:
            return v.major > con.major
        if c.minor_dirty:
            return False
        if c.patch_dirty:
            return v.minor > con.minor
        return compare(v, con) == 1
    if c.op == "lt":
        return compare(v, con) < 0
    if c.op == "ge":
        return compare(v, con) >= 0
    if c.op == "le":
        if not c.dirty:
            return compare(v, con) <= 0
        if v.major > con.major:
            return False
        return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)
    if c.op == "eq" and not c.dirty:
        return compare(v, con) == 0
    if c.op in ("eq", "tilde"):
        if compare(v, con) < 0:
            return False
        if (con.major, con.minor, con.patch) == (0, 0, 0) and not (c.minor_dirty or c.patch_dirty):
            return True
        if v.major != con.major:
            return False
        return not (v.minor != con.minor and not c.minor_dirty)
    # caret
    if compare(v, con) < 0:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return con.patch == v.patch


def check(groups: list[list[Constraint]], v: Version) -> bool:
    """``Constraints.Check``."""
    return any(all(_check(v, c) for c in group) for group in groups)


def legacy_parse_tag(tag: str) -> Version | None:
    """freightliner ``SemverFilter.parseVersion``."""
    direct = new_version(tag)
    if direct is not None:
        return direct
    lower = tag.lower()
    cleaned = tag
    for prefix in ("v", "release-", "version-", "ver-"):
        if lower.startswith(prefix):
            cleaned = tag[len(prefix) :]
            break
    return new_version(cleaned)


def semver_selects(groups: list[list[Constraint]], tag: str) -> bool:
    """Whether ``SemverFilter.Filter`` keeps ``tag``."""
    version = legacy_parse_tag(tag)
    return version is not None and check(groups, version)


def semver_filter(constraint: str, tags: list[str]) -> list[str]:
    """``SemverFilter.FilterAndSort``: selected tags, newest version first.

    Go's ``sort.Slice`` is not stable; equal versions keep registry order here.
    """
    groups = new_constraint(constraint)
    keyed = [(legacy_parse_tag(t), i, t) for i, t in enumerate(tags)]
    chosen = [(v, i, t) for v, i, t in keyed if v is not None and check(groups, v)]
    out: list[tuple[Version, int, str]] = []
    for item in chosen:  # insertion sort by version descending, stable
        pos = len(out)
        while pos > 0 and compare(item[0], out[pos - 1][0]) > 0:
            pos -= 1
        out.insert(pos, item)
    return [t for _, _, t in out]


def _num(value: int) -> str:
    return str(value)


def compile_constraint(text: str) -> list[list[dict[str, Any]]]:
    """The constraint as Rego data (numbers as decimal strings: exact in both engines)."""
    return [
        [
            {
                "op": c.op,
                "major": _num(c.con.major),
                "minor": _num(c.con.minor),
                "patch": _num(c.con.patch),
                "pre": c.con.pre,
                "dirty": c.dirty,
                "minor_dirty": c.minor_dirty,
                "patch_dirty": c.patch_dirty,
            }
            for c in group
        ]
        for group in new_constraint(text)
    ]
