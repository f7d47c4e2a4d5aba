"""Cron schedules: the next fire time of a policy's ``schedule``.

Accepts what :func:`migrate.policy.values.parse_cron` validates: five fields
(minute hour day-of-month month day-of-week; fires at second 0), six fields
with a leading seconds field (robfig/cron with seconds, as Freightliner's
legacy scheduler), ``@yearly``/``@annually``/``@monthly``/``@weekly``/
``@daily``/``@midnight``/``@hourly`` and ``@every <duration>``. Times are UTC.

Day matching follows Vixie cron and robfig/cron: when day-of-month or
day-of-week is unrestricted (``*`` or ``?``) a day must match both fields,
otherwise either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from migrate.policy.values import parse_cron, parse_duration_ns

__all__ = ["CronSchedule"]

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
# (low, high, names) for second, minute, hour, day of month, month, day of week
_BOUNDS: list[tuple[int, int, dict[str, int]]] = [
    (0, 59, {}),
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 7, _DAYS),
]
_HORIZON = timedelta(days=366 * 5)


def _value(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    return names[upper] if upper in names else int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """The allowed values of one field, and whether it is unrestricted (``*``/``?``)."""
    values: set[int] = set()
    star = False
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = int(step_text) if slash else 1
        if base in {"*", "?"}:
            start, end = low, high
            star = star or step == 1
        else:
            first, dash, last = base.partition("-")
            start = _value(first, names)
            end = _value(last, names) if dash else (high if slash else start)
        values.update(range(start, end + 1, step))
    return frozenset(values), star


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule; :meth:`next_after` gives the first fire time strictly after a time."""

    text: str
    seconds: frozenset[int] = frozenset()
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()  # 0 = Sunday
    days_star: bool = False
    weekdays_star: bool = False
    every: timedelta | None = None

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        """Raises ValueError for what parse_cron rejects."""
        parse_cron(text)
        stripped = text.strip()
        if stripped.startswith("@every "):
            every = timedelta(
                microseconds=parse_duration_ns(stripped.removeprefix("@every ").strip()) / 1000
            )
            if every < timedelta(seconds=1):
                raise ValueError(f"@every interval must be at least 1s, got {stripped!r}")
            return cls(text, every=every)
        parts = _DESCRIPTORS.get(stripped, stripped).split()
        if len(parts) == 5:
            parts = ["0", *parts]
        fields = [_field(p, *bounds) for p, bounds in zip(parts, _BOUNDS, strict=True)]
        weekdays = frozenset(d % 7 for d in fields[5][0])
        return cls(
            text,
            fields[0][0],
            fields[1][0],
            fields[2][0],
            fields[3][0],
            fields[4][0],
            weekdays,
            days_star=fields[3][1],
            weekdays_star=fields[5][1],
        )

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next_after(self, after: datetime) -> datetime:
        """The first fire time > ``after`` (an aware datetime; naive means UTC). UTC result."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        after = after.astimezone(UTC)
        if self.every is not None:
            return after + self.every
        t = after.replace(microsecond=0) + timedelta(seconds=1)
        limit = t + _HORIZON
        while t < limit:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = t.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)
            elif not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
            elif t.minute not in self.minutes:
                t = (t + timedelta(minutes=1)).replace(second=0)
            elif t.second not in self.seconds:
                t = t + timedelta(seconds=1)
            else:
                return t
        raise ValueError(f"schedule {self.text!r} never fires within five years")
