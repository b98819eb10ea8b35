"""Chinese working days and office hours: the calendar the working-day (``wd``) limits count in.

``WorkCalendar`` decides per date, in this order:

1. operator data: files ``bot/timelimits/holidays/YYYY.toml`` / ``YYYY.json`` (and the same in
   ``settings.holidays_path`` if set), format documented in ``bot/timelimits/holidays/README.md`` and
   ``bot/timelimits/holidays/example.toml``. A year with a file is "operator"; for it, the listed holidays are
   off, the listed 调休 workdays are on, and every other day is Monday–Friday. Operator data wins
   over the library (it is the more deliberate source);
2. the ``chinesecalendar`` library (import ``chinese_calendar``), for the years it knows (2004–2026
   in 1.11); it raises ``NotImplementedError`` for other years;
3. fallback: Monday–Friday. Each such year is logged once as a warning and listed by
   ``WorkCalendar.fallback_years()`` (for the dashboard). Nothing ever raises for an unknown year.

Per-date answers are cached per calendar, so the due-event sweep can call ``due`` and
``reminder_at`` for many events cheaply.
"""

from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.core import runtime
from bot.timelimits.holiday_files import YearSchedule, holiday_paths, load_holidays

log = logging.getLogger(__name__)

DEFAULT_OFFICE_HOURS = "08:30-17:30"
DEFAULT_TIMEZONE = "Asia/Shanghai"


def parse_office_hours(text: str) -> tuple[tuple[time, time], ...]:
    """``"08:30-17:30"`` or ``"08:30-12:00,14:00-17:30"`` → ordered, non-overlapping intervals."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("office hours must be like '08:30-17:30' (several intervals separated by commas)")
    intervals: list[tuple[time, time]] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", part)
        if not m:
            raise ValueError(f"bad office hours {part.strip()!r} in {text!r}: expected HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        if not (0 <= h1 <= 23 and 0 <= m1 <= 59 and 0 <= h2 <= 24 and 0 <= m2 <= 59) or (h2 == 24 and m2):
            raise ValueError(f"bad office hours {part.strip()!r} in {text!r}: not a time of day")
        opening = time(h1, m1)
        closing = time.max if h2 == 24 else time(h2, m2)
        if closing <= opening:
            raise ValueError(f"bad office hours {part.strip()!r} in {text!r}: closing must be after opening")
        if intervals and opening < intervals[-1][1]:
            raise ValueError(f"bad office hours {text!r}: intervals must be in order and must not overlap")
        intervals.append((opening, closing))
    return tuple(intervals)


def _offset(t: time) -> timedelta:
    if t == time.max:
        return timedelta(days=1)
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


# Where a year's working days come from (WorkCalendar.year_source).
OPERATOR, LIBRARY, FALLBACK = "operator", "library", "fallback"


@dataclass(eq=False)
class WorkCalendar:
    """Chinese working days and office hours, with per-day caching.

    ``holidays``: operator data — a directory or file path (see ``load_holidays``), an iterable of
    such paths (later ones win per year), a mapping year → ``YearSchedule``, or ``None``.
    """

    office_hours: str = DEFAULT_OFFICE_HOURS
    holidays: Any = None
    timezone: str | tzinfo = DEFAULT_TIMEZONE
    _years: dict[int, YearSchedule] = field(init=False, repr=False)
    _overrides: dict[date, bool] = field(init=False, repr=False)
    _sources: dict[int, str] = field(init=False, repr=False)
    _workday: dict[date, bool] = field(init=False, repr=False)
    _index: dict[int, list[int]] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.intervals = parse_office_hours(self.office_hours)
        self._spans = tuple((_offset(a), _offset(b)) for a, b in self.intervals)
        self.day_length: timedelta = sum((b - a for a, b in self._spans), timedelta())
        self.tz: tzinfo = ZoneInfo(self.timezone) if isinstance(self.timezone, str) else self.timezone
        self._years = self._load_years(self.holidays)
        self._overrides = {}
        for schedule in sorted(self._years.values(), key=lambda s: s.year):
            for d in schedule.holidays:
                self._overrides[d] = False
            for d in schedule.workdays:
                self._overrides[d] = True
        self._sources = {}
        self._workday = {}
        self._index = {}
        self._lock = threading.Lock()

    @staticmethod
    def _load_years(holidays: Any) -> dict[int, YearSchedule]:
        if holidays is None:
            return {}
        if isinstance(holidays, Mapping):
            return {int(y): s for y, s in holidays.items()}
        if isinstance(holidays, str | Path):
            return load_holidays(holidays)
        years: dict[int, YearSchedule] = {}
        for p in holidays:
            years.update(load_holidays(p))
        return years

    # ---- days

    def year_source(self, year: int) -> str:
        """``operator``, ``library`` or ``fallback`` (Monday–Friday) for ``year``.

        Asking does not log or record anything; only real lookups into a fallback year do.
        """
        if year in self._years:
            return OPERATOR
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return FALLBACK
        return LIBRARY

    def _source(self, year: int) -> str:
        source = self._sources.get(year)
        if source is None:
            with self._lock:
                source = self._sources.get(year)
                if source is None:
                    source = self.year_source(year)
                    if source == FALLBACK:
                        log.warning(
                            "no holiday data for %d: neither the chinesecalendar library nor an operator file "
                            "(bot/timelimits/holidays/%d.toml) covers it; counting Monday–Friday as working days",
                            year,
                            year,
                        )
                    elif source == OPERATOR:
                        log.info("working days for %d come from %s", year, self._years[year].path)
                    self._sources[year] = source
        return source

    def fallback_years(self) -> frozenset[int]:
        """Years looked up so far that had no holiday data and were counted Monday–Friday."""
        return frozenset(y for y, s in self._sources.items() if s == FALLBACK)

    def operator_years(self) -> frozenset[int]:
        return frozenset(self._years)

    def is_workday(self, day: date) -> bool:
        """Whether people work on ``day`` (holidays off, 调休 weekend workdays on). Never raises."""
        cached = self._workday.get(day)
        if cached is not None:
            return cached
        if isinstance(day, datetime):
            raise TypeError("is_workday takes a date, not a datetime")
        source = self._source(day.year)
        if day in self._overrides:
            value = self._overrides[day]
        elif source == LIBRARY:
            try:
                value = bool(chinese_calendar.is_workday(day))
            except NotImplementedError:  # pragma: no cover - year_source said the year is known
                value = day.weekday() < 5
        else:
            value = day.weekday() < 5
        self._workday[day] = value
        return value

    def _year_index(self, year: int) -> list[int]:
        """Sorted ordinals of the working days of ``year`` (built once per year from ``is_workday``)."""
        index = self._index.get(year)
        if index is None:
            first = date(year, 1, 1).toordinal()
            last = date(year + 1, 1, 1).toordinal()
            index = [o for o in range(first, last) if self.is_workday(date.fromordinal(o))]
            self._index[year] = index
        return index

    def next_workday(self, day: date, *, include: bool = False) -> date:
        """The first working day after ``day`` (or ``day`` itself if ``include`` and it is one)."""
        year, ordinal = day.year, day.toordinal()
        while True:
            index = self._year_index(year)
            i = bisect_left(index, ordinal) if include else bisect_right(index, ordinal)
            if i < len(index):
                return date.fromordinal(index[i])
            year += 1

    def workday_after(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``n = 0`` → ``day`` if it is a working day, else
        the next working day)."""
        year = day.year
        index = self._year_index(year)
        i = bisect_left(index, day.toordinal()) + n
        while i >= len(index):
            i -= len(index)
            year += 1
            index = self._year_index(year)
        return date.fromordinal(index[i])

    def workdays_between(self, first: date, last: date) -> int:
        """Working days in ``[first, last)``."""
        if last <= first:
            return 0
        count = -bisect_left(self._year_index(first.year), first.toordinal())
        for year in range(first.year, last.year):
            count += len(self._year_index(year))
        return count + bisect_left(self._year_index(last.year), last.toordinal())

    # ---- instants

    def local(self, moment: datetime) -> datetime:
        if not isinstance(moment, datetime):
            raise TypeError(f"expected a datetime, got {type(moment).__name__}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: time-limit arithmetic needs aware datetimes")
        return moment.astimezone(self.tz)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz)

    def _position(self, moment: datetime) -> tuple[date, timedelta]:
        """(working day, working time elapsed in it) of the first working instant at or after ``moment``."""
        loc = self.local(moment)
        day = loc.date()
        if self.is_workday(day):
            t = timedelta(hours=loc.hour, minutes=loc.minute, seconds=loc.second, microseconds=loc.microsecond)
            acc = timedelta()
            for opening, closing in self._spans:
                if t < opening:
                    return day, acc
                if t < closing:
                    return day, acc + (t - opening)
                acc += closing - opening
        return self.next_workday(day), timedelta()

    def _wall(self, day: date, worked: timedelta, *, earliest: bool = True) -> datetime:
        """The earliest (or latest) instant on ``day`` at which ``worked`` working time of it has elapsed.

        The two differ only on a break between intervals: 12:00 (earliest) or 14:00 (latest).
        """
        acc = timedelta()
        last = len(self._spans) - 1
        for i, (opening, closing) in enumerate(self._spans):
            length = closing - opening
            if worked < acc + length or (worked == acc + length and (earliest or i == last)):
                return self._midnight(day) + opening + (worked - acc)
            acc += length
        raise AssertionError("worked time exceeds the office day")  # pragma: no cover

    def start_of_count(self, moment: datetime) -> datetime:
        """When working time starts counting for a report at ``moment`` (itself, or the next opening)."""
        day, worked = self._position(moment)
        return self._wall(day, worked, earliest=False)

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant by which ``amount`` of working time has elapsed since ``start``."""
        if amount < timedelta():
            raise ValueError("working time to add must not be negative")
        if amount == timedelta():
            return self.local(start)
        day, worked = self._position(start)
        whole, rest = divmod(worked + amount, self.day_length)
        if rest == timedelta():
            return self._wall(self.workday_after(day, whole - 1), self.day_length)
        return self._wall(self.workday_after(day, whole), rest)

    def add_working_days(self, start: datetime, n: int) -> datetime:
        return self.add_working_time(start, n * self.day_length)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time (office hours on working days) elapsed from ``start`` to ``end``; 0 if end ≤ start."""
        if end <= start:
            return timedelta()
        d1, w1 = self._position(start)
        d2, w2 = self._position(end)
        if d1 == d2:
            return w2 - w1
        return self.workdays_between(d1, d2) * self.day_length + w2 - w1


def _resolve_settings(settings: Any) -> Any:
    if settings is None:
        from settings import get_settings

        settings = get_settings()
    return settings


def calendar_from_settings(settings: Any = None) -> WorkCalendar:
    """A fresh calendar from settings (``office_hours``, ``holidays_path``, ``timezone``).

    Raises ``ValueError`` for bad office hours or holiday files: call it at service start.
    """
    settings = _resolve_settings(settings)
    return WorkCalendar(
        office_hours=getattr(settings, "office_hours", DEFAULT_OFFICE_HOURS) or DEFAULT_OFFICE_HOURS,
        holidays=holiday_paths(settings),
        timezone=getattr(settings, "timezone", DEFAULT_TIMEZONE) or DEFAULT_TIMEZONE,
    )


class CalendarCache:
    """The calendar for the active settings (a runtime component), keyed by the settings it reads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entry: tuple[tuple, WorkCalendar] | None = None


def default_calendar() -> WorkCalendar:
    """The runtime's calendar for the active settings (rebuilt when those settings change)."""
    settings = _resolve_settings(None)
    key = (
        getattr(settings, "office_hours", DEFAULT_OFFICE_HOURS),
        str(getattr(settings, "holidays_path", "") or ""),
        getattr(settings, "timezone", DEFAULT_TIMEZONE),
    )
    cache = runtime.current().component(CalendarCache)
    entry = cache.entry
    if entry is not None and entry[0] == key:
        return entry[1]
    with cache.lock:
        if cache.entry is None or cache.entry[0] != key:
            cache.entry = (key, calendar_from_settings(settings))
        return cache.entry[1]


__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "DEFAULT_TIMEZONE",
    "FALLBACK",
    "LIBRARY",
    "OPERATOR",
    "CalendarCache",
    "WorkCalendar",
    "calendar_from_settings",
    "default_calendar",
    "holiday_paths",
    "parse_office_hours",
]
