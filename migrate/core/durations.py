"""Go-style durations (``"30d"``, ``"1h30m"``, ``"500ms"``), as policies and configs write them."""

from __future__ import annotations

import re

from migrate.core.limits import MAX_EXACT_INTEGER

__all__ = ["parse_duration_ns", "parse_duration_seconds"]

_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)")


def parse_duration_ns(text: str) -> int:
    """``"30d"``, ``"12h"``, ``"1h30m"``, ``"500ms"`` to nanoseconds (must be positive)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"expected a duration such as '30d' or '12h', got {text!r}")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(
            f"invalid duration {text!r} (units: ns us ms s m h d w, e.g. '30d', '1h30m')"
        )
    if total <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    if int(total) > MAX_EXACT_INTEGER:
        raise ValueError(
            f"duration {text!r} is {int(total)} ns; at most {MAX_EXACT_INTEGER} "
            "(the largest both decision engines compare exactly)"
        )
    return int(total)


def parse_duration_seconds(text: str) -> float:
    """:func:`parse_duration_ns` in seconds."""
    return parse_duration_ns(text) / 1e9
