"""Time limits (限时办理): parsing the per-grade limits and computing due times and reminders.

Pure functions over plain values: no database, no web framework. The domain stores the results;
the supervision sweep compares them with "now".

Limits
------
A limit is ``<positive integer><unit>``: ``s``, ``m``, ``h`` (wall-clock seconds, minutes, hours)
or ``wd`` (Chinese working days). Per grade there is a ``respond`` and a ``resolve`` limit; the
defaults are DESIGN.md's (``DEFAULT_TIME_LIMITS``). ``WEILINLI_TIME_LIMITS`` holds JSON
``{"A": {"respond": "2h", "resolve": "1wd"}, ...}`` merged over the defaults field by field: a grade
or field left out keeps its default. Grades are A–D (case-insensitive); the key ``urgent`` sets the
limits of urgent events whatever their grade. Anything else — bad JSON, an unknown grade or field,
a malformed value or unit — raises ``ValueError`` naming the grade and field, so the service
refuses to start with it.

Wall-clock limits (s, m, h)
---------------------------
Plain elapsed time: ``due = start + duration``. They do not stop at night, at weekends or on public
holidays — hour limits are the urgent ones (A: respond within 2 h) and a leaking gas pipe does not
wait for Monday. The reminder comes at 80 % of the wall-clock span.

Working-day limits (wd)
-----------------------
Counted in *working time*: the office hours (default ``08:30-17:30``; several intervals such as
``08:30-12:00,14:00-17:30`` for a lunch break are allowed) of *working days*. A working day is a
day the Chinese calendar says people work: Monday–Friday except public holidays, plus the 调休
weekend days that are working days. One working day (1wd) is one office day's worth of working
time (9 h with the default hours); N wd = N times that.

- The clock starts at the report if it falls within office hours on a working day, otherwise at
  the next opening (a report on Saturday, on a holiday, before 08:30 or after 17:30 starts counting
  at the next working day's 08:30).
- The deadline is the earliest moment at which N office days of working time have elapsed.

Consequences, with the default hours:

- reported 10:00 on a working day, 1wd → due 10:00 the next working day; 3wd → 10:00 on the third
  working day after it (holidays skipped, 调休 Saturdays counted);
- reported at 20:00, on a weekend or on a holiday, or before 08:30, 1wd → due 17:30 (close of office
  hours) of the first working day the count starts on; 3wd → 17:30 of the third such working day;
- reported 17:30 exactly (closing time) counts as outside office hours (same as 20:00);
- with a lunch break, a deadline that falls exactly on a break is given as the start of the break
  (12:00), the earliest moment the working time is used up.

The reminder for a wd limit is at 80 % of the *working time* between start and due (so it falls
within office hours: 1wd from 10:00 Wednesday → reminder 17:12 the same Wednesday), never at 80 %
of the wall-clock span (which could land at night or in the middle of a holiday).

All datetimes in and out are timezone-aware; naive ones raise ``ValueError``. Working days and
office hours are read in the calendar's timezone (``settings.timezone``, Asia/Shanghai); results
are returned in that timezone.

Working days and office hours come from ``bot.timelimits.workdays`` (``WorkCalendar``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from bot.domain.vocabulary import GRADE_CODES as GRADES
from bot.timelimits.workdays import WorkCalendar, default_calendar

UNITS = ("s", "m", "h", "wd")
UNIT_LABELS = {"s": "秒", "m": "分钟", "h": "小时", "wd": "个工作日"}
FIELDS = ("respond", "resolve")
DEFAULT_TIME_LIMITS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "A": MappingProxyType({"respond": "2h", "resolve": "1wd"}),
        "B": MappingProxyType({"respond": "4h", "resolve": "3wd"}),
        "C": MappingProxyType({"respond": "1wd", "resolve": "5wd"}),
        "D": MappingProxyType({"respond": "1wd", "resolve": "15wd"}),
    }
)
# Urgent events (gas, fire, someone fallen…) have their own limits whatever their grade: the key
# ``urgent`` of WEILINLI_TIME_LIMITS, merged over these like a grade.
URGENT = "urgent"
DEFAULT_URGENT_LIMITS: Mapping[str, str] = MappingProxyType({"respond": "15m", "resolve": "1wd"})
KEYS = (*GRADES, URGENT)
REMINDER_FRACTION = 0.8

# Sanity bounds: a limit longer than a year is a typo, and it bounds the day walk.
MAX_WORKING_DAYS = 366
MAX_WALL = timedelta(days=366)
_WALL_SECONDS = {"s": 1, "m": 60, "h": 3600}
_LIMIT_RE = re.compile(r"^\s*(\d+)\s*(wd|s|m|h)\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class Limit:
    """One time limit: ``amount`` units, ``unit`` one of ``UNITS``."""

    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown time-limit unit {self.unit!r}: use one of {', '.join(UNITS)}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError(f"time limit must be a positive whole number of units, got {self.amount!r}")
        if self.unit == "wd":
            if self.amount > MAX_WORKING_DAYS:
                raise ValueError(f"time limit {self} is longer than {MAX_WORKING_DAYS} working days")
        elif self.duration > MAX_WALL:
            raise ValueError(f"time limit {self} is longer than {MAX_WALL.days} days")

    @classmethod
    def parse(cls, text: str | Limit) -> Limit:
        """``"2h"`` → ``Limit(2, "h")``; ``"1wd"``, ``"30m"``, ``"90s"``. ValueError otherwise."""
        if isinstance(text, Limit):
            return text
        if isinstance(text, str):
            return _parse_limit_text(text)
        raise ValueError(f"time limit must be a string such as '2h' or '3wd', got {text!r}")

    @classmethod
    def _parse(cls, text: str) -> Limit:
        m = _LIMIT_RE.match(text)
        if not m:
            raise ValueError(
                f"bad time limit {text!r}: expected a positive whole number and a unit "
                f"s, m, h or wd (working days), e.g. '2h' or '3wd'"
            )
        return cls(int(m.group(1)), m.group(2).lower())

    @property
    def working_days(self) -> bool:
        return self.unit == "wd"

    @property
    def duration(self) -> timedelta:
        """The wall-clock length of an s/m/h limit (ValueError for wd: that depends on the calendar)."""
        if self.unit == "wd":
            raise ValueError("a working-day limit has no fixed duration; use due() with a calendar")
        return timedelta(seconds=self.amount * _WALL_SECONDS[self.unit])

    @property
    def label(self) -> str:
        """Chinese label for users and the admin page: ``2小时``, ``3个工作日``."""
        return f"{self.amount}{UNIT_LABELS[self.unit]}"

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@lru_cache(maxsize=256)
def _parse_limit_text(text: str) -> Limit:
    return Limit._parse(text)


def parse_limit(text: str | Limit) -> Limit:
    return Limit.parse(text)


@dataclass(frozen=True, slots=True)
class GradeLimits:
    respond: Limit
    resolve: Limit

    def __getitem__(self, name: str) -> Limit:
        if name not in FIELDS:
            raise KeyError(name)
        return getattr(self, name)


def parse_time_limits(text: str | None) -> Mapping[str, GradeLimits]:
    """The effective limits: JSON ``text`` (``WEILINLI_TIME_LIMITS``) merged over the defaults.

    Empty or blank text → the defaults. Returns a read-only mapping grade → ``GradeLimits`` for
    every grade in ``GRADES``, plus the key ``urgent``. Raises ``ValueError`` with the grade and
    field for anything wrong.
    """
    merged: dict[str, dict[str, Any]] = {g: dict(DEFAULT_TIME_LIMITS[g]) for g in GRADES}
    merged[URGENT] = dict(DEFAULT_URGENT_LIMITS)
    if text is not None and text.strip():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"WEILINLI_TIME_LIMITS is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(
                'WEILINLI_TIME_LIMITS must be a JSON object grade → {"respond": …, "resolve": …}, '
                f"got {type(data).__name__}"
            )
        for raw_grade, fields in data.items():
            grade = raw_grade.strip().upper() if isinstance(raw_grade, str) else raw_grade
            if isinstance(grade, str) and grade.lower() == URGENT:
                grade = URGENT
            if grade not in KEYS:
                raise ValueError(f"WEILINLI_TIME_LIMITS: unknown grade {raw_grade!r} "
                                 f"(grades are {', '.join(GRADES)}, or {URGENT})")
            if not isinstance(fields, dict):
                raise ValueError(
                    f'WEILINLI_TIME_LIMITS grade {grade}: expected an object {{"respond": …, "resolve": …}}, '
                    f"got {fields!r}"
                )
            for name, value in fields.items():
                if name not in FIELDS:
                    raise ValueError(
                        f"WEILINLI_TIME_LIMITS grade {grade}: unknown field {name!r} (fields are respond, resolve)"
                    )
                merged[grade][name] = value
    result: dict[str, GradeLimits] = {}
    for grade in KEYS:
        parsed = {}
        for name in FIELDS:
            try:
                parsed[name] = Limit.parse(merged[grade][name])
            except ValueError as exc:
                raise ValueError(f"WEILINLI_TIME_LIMITS grade {grade} {name}: {exc}") from None
        result[grade] = GradeLimits(**parsed)
    return MappingProxyType(result)


def time_limits_from_settings(settings: Any = None) -> Mapping[str, GradeLimits]:
    """The limits configured in ``settings.time_limits`` (ValueError if misconfigured)."""
    if settings is None:
        from settings import get_settings

        settings = get_settings()
    return parse_time_limits(getattr(settings, "time_limits", "") or "")


# ------------------------------------------------------------------------------- due / remind


def due(start: datetime, limit: str | Limit, calendar: WorkCalendar | None = None) -> datetime:
    """When ``limit`` runs out for something that started at ``start`` (see the module docstring)."""
    limit = Limit.parse(limit)
    cal = calendar or default_calendar()
    if limit.working_days:
        return cal.add_working_days(start, limit.amount)
    return cal.local(start) + limit.duration


def reminder_at(
    start: datetime,
    due_at: datetime,
    limit: str | Limit | None = None,
    calendar: WorkCalendar | None = None,
    *,
    fraction: float = REMINDER_FRACTION,
) -> datetime:
    """The reminder instant: ``fraction`` (80 %) of the way from ``start`` to ``due_at``.

    For a working-day ``limit`` the fraction is of the working time between them (so the reminder
    falls within office hours); for an s/m/h limit, or no limit given, of the wall-clock span.
    """
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    cal = calendar or default_calendar()
    start_l, due_l = cal.local(start), cal.local(due_at)
    if due_l <= start_l:
        return due_l
    if limit is not None and Limit.parse(limit).working_days:
        span = cal.working_time_between(start_l, due_l)
        if span == timedelta():
            return due_l
        return cal.add_working_time(start_l, span * fraction)
    return start_l + (due_l - start_l) * fraction


class Deadline(NamedTuple):
    limit: Limit
    due: datetime
    remind_at: datetime


def deadline(start: datetime, limit: str | Limit, calendar: WorkCalendar | None = None) -> Deadline:
    """``due`` and ``reminder_at`` together for one limit."""
    limit = Limit.parse(limit)
    cal = calendar or default_calendar()
    due_at = due(start, limit, cal)
    return Deadline(limit, due_at, reminder_at(start, due_at, limit, cal))


class EventDeadlines(NamedTuple):
    respond: Deadline
    resolve: Deadline


def event_deadlines(
    start: datetime,
    grade: str,
    limits: Mapping[str, GradeLimits] | None = None,
    calendar: WorkCalendar | None = None,
    *,
    urgent: bool = False,
) -> EventDeadlines:
    """Respond and resolve deadlines for an event of ``grade`` reported at ``start`` (the ``urgent``
    limits instead for an urgent event, whatever its grade)."""
    limits = limits if limits is not None else time_limits_from_settings()
    grade_limits = limits[URGENT] if urgent else limits[grade.upper()]
    cal = calendar or default_calendar()
    return EventDeadlines(deadline(start, grade_limits.respond, cal), deadline(start, grade_limits.resolve, cal))


__all__ = [
    "DEFAULT_TIME_LIMITS",
    "DEFAULT_URGENT_LIMITS",
    "URGENT",
    "FIELDS",
    "GRADES",
    "REMINDER_FRACTION",
    "UNITS",
    "Deadline",
    "EventDeadlines",
    "GradeLimits",
    "Limit",
    "deadline",
    "due",
    "event_deadlines",
    "parse_limit",
    "parse_time_limits",
    "reminder_at",
    "time_limits_from_settings",
]
