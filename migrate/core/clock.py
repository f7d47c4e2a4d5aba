"""UTC timestamps as the contract writes them: RFC 3339, microseconds, ``Z``.

The one place that formats a time for ``input.now``, audit records, webhook
bodies and bundle reports.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now_rfc3339", "rfc3339"]


def rfc3339(moment: datetime) -> str:
    """``2026-11-23T12:00:00.000000Z`` for an aware datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_rfc3339() -> str:
    """The current time as the contract's ``input.now``."""
    return rfc3339(datetime.now(UTC))
