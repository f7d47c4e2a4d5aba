"""Parsers for the typed strings policies contain: durations, sizes, cron
schedules, semver ranges and action templates. Each raises ValueError with a
message fit for a one-line diagnostic.

Durations and cron live in :mod:`migrate.core` (the scheduler and configs use
them too) and are re-exported here for the policy code."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from migrate.core.cron import parse_cron
from migrate.core.durations import parse_duration_ns
from migrate.core.limits import MAX_EXACT_INTEGER

__all__ = [
    "TEMPLATE_VARIABLES",
    "check_rfc3339",
    "parse_cron",
    "parse_duration_ns",
    "parse_semver_range",
    "parse_size",
    "parse_template",
    "semver_condition_arg",
]


def _exact(number: int, what: str, unit: str) -> int:
    if number > MAX_EXACT_INTEGER:
        raise ValueError(
            f"{what} is {number} {unit}; at most {MAX_EXACT_INTEGER} "
            "(the largest both decision engines compare exactly)"
        )
    return number


_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: object) -> int:
    """A byte count from an integer or text like ``500MiB``, ``1.5GB``, ``1024``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as '500MiB', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative, got {value}")
        return _exact(value, "size", "bytes")
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2) in _SIZE_UNITS:
            whole, _, fraction = match.group(1).partition(".")
            scale = _SIZE_UNITS[match.group(2)]
            numerator = int(whole + fraction) * scale  # exact: no float rounding
            denominator = 10 ** len(fraction)
            if numerator % denominator:
                raise ValueError(f"size {value!r} is not a whole number of bytes")
            return _exact(numerator // denominator, f"size {value!r}", "bytes")
    raise ValueError(
        f"invalid size {value!r} "
        "(a byte count, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
    )


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


def check_rfc3339(text: object) -> str:
    """``text`` when it is an RFC 3339 time both engines parse (``2026-01-01T00:00:00Z``)."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2026-01-01T00:00:00Z")
    try:
        datetime.fromisoformat(re.sub(r"\.(\d{6})\d+", r".\1", text).replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid RFC 3339 time: {exc}") from None
    return text


# --- semver ranges -------------------------------------------------------------

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_PARTIAL = re.compile(r"^v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(-[0-9A-Za-z.-]+)?$")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|==|=|!=|\^|~)?\s*(.+)$")


def _full(version: str) -> str:
    v = version.removeprefix("v")
    if not _SEMVER.match(v):
        raise ValueError(f"invalid version {version!r}")
    return v


def _wild(part: str | None) -> bool:
    return part is None or part in {"x", "X", "*"}


def _expand(op: str, version: str) -> list[list[str]]:
    """One comparator in range syntax to a list of [op, full-version] pairs."""
    partial = _PARTIAL.match(version)
    if not partial:
        raise ValueError(f"invalid version {version!r} in semver range")
    major, minor, patch, pre = partial.groups()
    if _wild(minor) or _wild(patch):
        lo_minor = "0" if _wild(minor) else minor
        lower = f"{major}.{lo_minor}.0"
        upper = f"{int(major) + 1}.0.0" if _wild(minor) else f"{major}.{int(lo_minor) + 1}.0"
        if op in {"", "=", "==", "^", "~"}:
            if op == "^" and not _wild(minor) and major == "0":
                upper = f"0.{int(lo_minor) + 1}.0"
            return [[">=", lower], ["<", f"{upper}-0"]]
        table = {
            ">": [[">=", f"{upper}"]],
            ">=": [[">=", lower]],
            "<": [["<", f"{lower}-0"]],
            "<=": [["<", f"{upper}-0"]],
        }
        if op in table:
            return table[op]
        raise ValueError(f"operator {op!r} cannot take a partial version {version!r}")
    full = _full(f"{major}.{minor}.{patch}{pre or ''}")
    if op == "^":
        if major != "0":
            upper = f"{int(major) + 1}.0.0-0"
        elif minor != "0":
            upper = f"0.{int(minor) + 1}.0-0"
        else:
            upper = f"0.0.{int(patch) + 1}-0"
        return [[">=", full], ["<", upper]]
    if op == "~":
        return [[">=", full], ["<", f"{major}.{int(minor) + 1}.0-0"]]
    return [[{"": "=", "==": "="}.get(op, op), full]]


def parse_semver_range(text: str) -> list[list[list[str]]]:
    """``">=1.2.0 <2.0.0 || ^3.1"`` to alternatives of [op, version] comparators.

    Alternatives are separated by ``||``; comparators within one are ANDed.
    Operators: = == != > >= < <= ^ ~; partial versions (``1.2``, ``1.x``)
    widen to ranges as in npm.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("semver range must be a non-empty string such as '>=1.2.0 <2.0.0'")
    alternatives: list[list[list[str]]] = []
    for alternative in text.split("||"):
        tokens = re.sub(r"(>=|<=|>|<|==|=|!=|\^|~)\s+", r"\1", alternative.strip()).split()
        if not tokens:
            raise ValueError(f"empty alternative in semver range {text!r}")
        comparators: list[list[str]] = []
        for token in tokens:
            match = _COMPARATOR.match(token)
            if not match:
                raise ValueError(f"invalid comparator {token!r}")
            comparators.extend(_expand(match.group(1) or "", match.group(2)))
        alternatives.append(comparators)
    return alternatives


def _core(version: str) -> tuple[str, bool]:
    """``("major.minor.patch", has a prerelease)`` of a full version."""
    release = version.partition("+")[0]
    core, dash, _ = release.partition("-")
    return core, bool(dash)


def semver_condition_arg(text: str, include_prerelease: bool = False) -> dict[str, Any]:
    """The compiled ``arg`` of a ``semver`` condition: ``{"alternatives": ..., "prerelease": P}``.

    ``alternatives`` as :func:`parse_semver_range`. ``P`` is ``true`` when
    ``include_prerelease`` is set (any prerelease may match), else one list
    per alternative of the ``major.minor.patch`` its comparators name *with* a
    prerelease as written (npm / node-semver's rule: a version with a
    prerelease satisfies an alternative only if a comparator of it has a
    prerelease on the same ``major.minor.patch``; ``>=1.0.0 <3.0.0`` admits
    no ``2.0.0-rc.1``, ``>=2.0.0-rc.1 <3.0.0`` admits ``2.0.0-rc.2`` but not
    ``2.1.0-rc.1``). The ``-0`` bounds that partial versions and ``^``/``~``
    expand to are not "named" prereleases: they only exclude.
    """
    alternatives = parse_semver_range(text)
    if include_prerelease:
        return {"alternatives": alternatives, "prerelease": True}
    named: list[list[str]] = []
    for alternative in text.split("||"):
        tuples: set[str] = set()
        tokens = re.sub(r"(>=|<=|>|<|==|=|!=|\^|~)\s+", r"\1", alternative.strip()).split()
        for token in tokens:
            match = _COMPARATOR.match(token)
            version = match.group(2).removeprefix("v") if match else ""
            if _SEMVER.match(version):
                core, pre = _core(version)
                if pre:
                    tuples.add(core)
        named.append(sorted(tuples))
    return {"alternatives": alternatives, "prerelease": named}


# --- templates -----------------------------------------------------------------

TEMPLATE_VARIABLES = frozenset({"registry", "repository", "tag", "match", "legacy"})


#: parse_template's answers (a policy set repeats a few templates thousands of times);
#: bounded, and every caller gets its own copy of the parts.
_TEMPLATES: dict[str, list[dict[str, str]] | str] = {}
_TEMPLATES_MAX = 20_000


def parse_template(text: str) -> list[dict[str, str]]:
    """``"prod-mirror/{repository}"`` to parts (see :func:`_parse_template`)."""
    if not isinstance(text, str):
        return _parse_template(text)
    known = _TEMPLATES.get(text)
    if known is None:
        try:
            known = _parse_template(text)
        except ValueError as exc:
            known = str(exc)
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[text] = known
    if isinstance(known, str):
        raise ValueError(known)
    return [dict(part) for part in known]


def _parse_template(text: str) -> list[dict[str, str]]:
    """``"prod-mirror/{repository}"`` to parts ``[{"text": "prod-mirror/", "var": ""},
    {"text": "", "var": "repository"}]``: every part has both keys, so the Rego
    library fills a part with one lookup (the variable's value, else the text).

    ``{{`` and ``}}`` are literal braces; any other brace is an error.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a template string, got {text!r}")
    parts: list[dict[str, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal.append(char)
            i += 2
        elif char == "{":
            end = text.find("}", i)
            name = text[i + 1 : end] if end != -1 else ""
            if end == -1 or name not in TEMPLATE_VARIABLES:
                known = ", ".join("{" + v + "}" for v in sorted(TEMPLATE_VARIABLES))
                raise ValueError(
                    f"unknown placeholder in {text!r} (known: {known}; '{{{{' for a brace)"
                )
            if literal:
                parts.append({"text": "".join(literal), "var": ""})
                literal = []
            parts.append({"text": "", "var": name})
            i = end + 1
        elif char == "}":
            raise ValueError(f"unmatched '}}' in {text!r} (write '}}}}' for a literal brace)")
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append({"text": "".join(literal), "var": ""})
    return parts
