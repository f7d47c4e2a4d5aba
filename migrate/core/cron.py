"""Cron schedules: the one parser, for validation (:func:`parse_cron`) and scheduling.

Accepts five fields (minute hour day-of-month month day-of-week; fires at
second 0), six fields with a leading seconds field (robfig/cron with seconds,
as Freightliner's legacy scheduler), ``@yearly``/``@annually``/``@monthly``/
``@weekly``/``@daily``/``@midnight``/``@hourly`` and ``@every <duration>``.
A ``CRON_TZ=<zone>`` or ``TZ=<zone>`` prefix (robfig/cron's) names the IANA
time zone the fields are read in; without one they are UTC.

Day matching follows Vixie cron and robfig/cron: when day-of-month or
day-of-week is unrestricted (``*`` or ``?``) a day must match both fields,
otherwise either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from migrate.core.durations import parse_duration_ns

__all__ = ["CronSchedule", "parse_cron"]

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
# (name, low, high, names) for second, minute, hour, day of month, month, day of week
_Field = tuple[str, int, int, dict[str, int]]
_BOUNDS: list[_Field] = [
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
]
_ZONE_PREFIXES = ("CRON_TZ=", "TZ=")
_HORIZON = timedelta(days=366 * 5)


def _split_zone(text: str) -> tuple[tzinfo, str]:
    """The time zone of a ``CRON_TZ=``/``TZ=`` prefix (UTC without one) and the rest."""
    stripped = text.strip()
    for prefix in _ZONE_PREFIXES:
        if stripped.startswith(prefix):
            name, _, rest = stripped.removeprefix(prefix).partition(" ")
            try:
                # ZoneInfo reads a file named by the key: refuse anything path-like first.
                if not name or name.startswith("/") or ".." in name.split("/"):
                    raise ValueError(name)
                return ZoneInfo(name), rest.strip()
            except (ValueError, ZoneInfoNotFoundError) as exc:
                raise ValueError(
                    f"unknown time zone {name!r} in {prefix}{name} (an IANA name such as "
                    "'Europe/Berlin')"
                ) from exc
    return UTC, stripped


def _cron_number(text: str, field: _Field) -> int:
    name, low, high, names = field
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ValueError(f"{name} field: {text!r} is not a number")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{name} field: {number} is outside {low}-{high}")
    return number


def _field(text: str, field: _Field) -> tuple[frozenset[int], bool]:
    """The allowed values of one field, and whether it is unrestricted (``*``/``?``).

    Raises ValueError with a one-line message for anything cron would not take.
    """
    name, low, high, _ = field
    values: set[int] = set()
    star = False
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) == 0):
            raise ValueError(f"{name} field: invalid step {step_text!r}")
        step = int(step_text) if slash else 1
        if base in {"*", "?"}:
            if base == "?" and name not in {"day of month", "day of week"}:
                raise ValueError(f"{name} field: '?' is only allowed for days")
            start, end = low, high
            star = star or step == 1
        else:
            first, dash, last = base.partition("-")
            start = _cron_number(first, field)
            end = _cron_number(last, field) if dash else (high if slash else start)
            if dash and end < start:
                raise ValueError(f"{name} field: range {base!r} runs backwards")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


def parse_cron(text: str) -> int:
    """Validate a cron schedule; return its field count (5, 6, or 0 for a descriptor).

    Five fields are standard cron (minute first); six fields have a leading
    seconds field, as Freightliner's legacy scheduler (robfig/cron with
    seconds) parses them. ``@hourly`` etc., ``@every <duration>`` and a
    ``CRON_TZ=``/``TZ=`` prefix are accepted too.
    """
    return CronSchedule.parse(text).field_count


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
    zone: tzinfo = UTC
    field_count: int = 0  # 5 or 6, 0 for a descriptor

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        """Parse a schedule; ValueError (one line) for anything cron would not take."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("schedule must be a cron expression")
        zone, stripped = _split_zone(text)
        if stripped.startswith("@every "):
            every = timedelta(
                microseconds=parse_duration_ns(stripped.removeprefix("@every ").strip()) / 1000
            )
            if every < timedelta(seconds=1):
                raise ValueError(f"@every interval must be at least 1s, got {stripped!r}")
            return cls(text, every=every, zone=zone)
        if stripped.startswith("@") and stripped not in _DESCRIPTORS:
            raise ValueError(f"unknown cron descriptor {stripped!r}")
        parts = _DESCRIPTORS.get(stripped, stripped).split()
        if stripped in _DESCRIPTORS:
            count = 0
        elif len(parts) in (5, 6):
            count = len(parts)
        else:
            raise ValueError(f"cron expression {text!r} has {len(parts)} fields; expected 5 or 6")
        if len(parts) == 5:
            parts = ["0", *parts]
        fields = [_field(p, bounds) for p, bounds in zip(parts, _BOUNDS, strict=True)]
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
            zone=zone,
            field_count=count,
        )

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.isoweekday() % 7) in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next_after(self, after: datetime) -> datetime:
        """The first fire time > ``after`` (an aware datetime; naive means UTC). UTC result.

        The fields are matched against the wall clock of the schedule's zone; a
        wall time a DST change skips does not fire, one it repeats fires once.
        """
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        after = after.astimezone(UTC)
        if self.every is not None:
            return after + self.every
        # Walk the zone's wall clock (naive), starting a little before ``after``
        # so that a repeated (DST) hour is not missed; keep the first fire > after.
        t = after.astimezone(self.zone).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        if self.zone is not UTC:
            t -= timedelta(hours=3)
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
                fire = self._instant(t)
                if fire is not None and fire > after:
                    return fire
                t = t + timedelta(seconds=1)
        raise ValueError(f"schedule {self.text!r} never fires within five years")

    def _instant(self, wall: datetime) -> datetime | None:
        """The UTC instant of a wall-clock time in the zone; None if the zone skips it."""
        if self.zone is UTC:
            return wall.replace(tzinfo=UTC)
        instant = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) != wall:
            return None  # a wall time inside a DST gap does not exist
        return instant
