"""Time limits (限时办理): parsing the per-grade limits and computing due times and reminders.

Pure functions over plain values: no database, no web framework. The domain stores the results;
the supervision sweep compares them with "now".

Limits
------
A limit is ``<positive integer><unit>``: ``s``, ``m``, ``h`` (wall-clock seconds, minutes, hours)
or ``wd`` (Chinese working days). Per grade there is a ``respond`` and a ``resolve`` limit; the
defaults are DESIGN.md's (``DEFAULT_TIME_LIMITS``). ``WEILINLI_TIME_LIMITS`` holds JSON
``{"A": {"respond": "2h", "resolve": "1wd"}, ...}`` merged over the defaults field by field: a grade
or field left out keeps its default. Grades are A–D (case-insensitive); anything else — bad JSON,
an unknown grade or field, a malformed value or unit — raises ``ValueError`` naming the grade and
field, so the service refuses to start with it.

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

The calendar
------------
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

import json
import logging
import re
import threading
import tomllib
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.domain.vocabulary import GRADE_CODES as GRADES

log = logging.getLogger(__name__)

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
DEFAULT_OFFICE_HOURS = "08:30-17:30"
DEFAULT_TIMEZONE = "Asia/Shanghai"
REMINDER_FRACTION = 0.8
HOLIDAYS_DIR = Path(__file__).resolve().parent / "holidays"

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
    every grade in ``GRADES``. Raises ``ValueError`` with the grade and field for anything wrong.
    """
    merged: dict[str, dict[str, Any]] = {g: dict(DEFAULT_TIME_LIMITS[g]) for g in GRADES}
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
            if grade not in GRADES:
                raise ValueError(f"WEILINLI_TIME_LIMITS: unknown grade {raw_grade!r} (grades are {', '.join(GRADES)})")
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
    for grade in GRADES:
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


# --------------------------------------------------------------------------------- office hours


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


# ------------------------------------------------------------------------------ holiday data


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """One year of operator-supplied holiday data (see ``bot/timelimits/holidays/README.md``)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""
    path: str = ""


def _as_dates(value: Any, where: str) -> list[date]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of dates, got {value!r}")
    out: list[date] = []
    for item in value:
        if isinstance(item, datetime):
            raise ValueError(f"{where}: {item!r} is a date-time; list plain dates like 2027-01-01")
        if isinstance(item, date):
            out.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"{where}: {item!r} is not a date")
        first, sep, last = item.partition("..")
        try:
            a = date.fromisoformat(first.strip())
            b = date.fromisoformat(last.strip()) if sep else a
        except ValueError:
            raise ValueError(f"{where}: {item!r} is not a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD") from None
        if b < a or (b - a).days > 60:
            raise ValueError(f"{where}: bad range {item!r}")
        out.extend(a + timedelta(days=i) for i in range((b - a).days + 1))
    return out


def _parse_year_data(data: Any, where: str, stem_year: int | None) -> YearSchedule:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a table/object with year, holidays and workdays")
    unknown = set(data) - {"year", "source", "holidays", "workdays"}
    if unknown:
        raise ValueError(
            f"{where}: unknown keys {', '.join(sorted(unknown))} (allowed: year, source, holidays, workdays)"
        )
    year = data.get("year", stem_year)
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2999:
        raise ValueError(f"{where}: 'year' must be a year such as 2027 (or name the file YYYY.toml), got {year!r}")
    if stem_year is not None and year != stem_year:
        raise ValueError(f"{where}: file is named for {stem_year} but says year = {year}")
    if "holidays" not in data:
        raise ValueError(f"{where}: 'holidays' is required (the days off, dates or ranges)")
    holidays = _as_dates(data.get("holidays"), f"{where} holidays")
    workdays = _as_dates(data.get("workdays"), f"{where} workdays")
    first, last = date(year - 1, 12, 1), date(year + 1, 1, 31)
    for d in (*holidays, *workdays):
        if not first <= d <= last:
            raise ValueError(f"{where}: date {d} is outside year {year}")
    both = set(holidays) & set(workdays)
    if both:
        raise ValueError(f"{where}: {', '.join(map(str, sorted(both)))} listed both as holiday and as workday")
    source = data.get("source", "")
    if not isinstance(source, str):
        raise ValueError(f"{where}: 'source' must be text")
    return YearSchedule(year, frozenset(holidays), frozenset(workdays), source, where)


def load_holiday_file(path: str | Path) -> YearSchedule:
    """Read one operator file (``.toml`` or ``.json``). ValueError naming the file if it is wrong."""
    path = Path(path)
    stem_year = int(path.stem) if re.fullmatch(r"\d{4}", path.stem) else None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"holiday file {path}: cannot read it: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        elif path.suffix.lower() == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            raise ValueError("use a .toml or .json file")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"holiday file {path}: {exc}") from None
    return _parse_year_data(data, f"holiday file {path}", stem_year)


def load_holidays(path: str | Path | None) -> dict[int, YearSchedule]:
    """Operator holiday data from a directory (every ``YYYY.toml`` / ``YYYY.json`` in it) or one file.

    A missing directory or ``None`` → no data. Other files in a directory (README, example) are
    ignored. Two files for the same year → ValueError.
    """
    if path is None or str(path) == "":
        return {}
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if re.fullmatch(r"\d{4}\.(toml|json)", p.name, re.IGNORECASE))
    elif path.exists():
        files = [path]
    else:
        raise ValueError(f"holiday data {path}: no such file or directory")
    years: dict[int, YearSchedule] = {}
    for f in files:
        schedule = load_holiday_file(f)
        if schedule.year in years:
            raise ValueError(f"holiday data: year {schedule.year} is given twice ({years[schedule.year].path}, {f})")
        years[schedule.year] = schedule
    return years


# ----------------------------------------------------------------------------------- calendar


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


def holiday_paths(settings: Any = None) -> list[Path]:
    """Where operator holiday files are read from: ``bot/timelimits/holidays/``, then ``settings.holidays_path``."""
    settings = _resolve_settings(settings)
    paths = [HOLIDAYS_DIR]
    extra = getattr(settings, "holidays_path", "") or ""
    if str(extra):
        paths.append(Path(extra))
    return paths


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


_default: tuple[tuple, WorkCalendar] | None = None
_default_lock = threading.Lock()


def default_calendar() -> WorkCalendar:
    """The process-wide calendar for the active settings (rebuilt when those settings change)."""
    global _default
    settings = _resolve_settings(None)
    key = (
        getattr(settings, "office_hours", DEFAULT_OFFICE_HOURS),
        str(getattr(settings, "holidays_path", "") or ""),
        getattr(settings, "timezone", DEFAULT_TIMEZONE),
    )
    current = _default
    if current is not None and current[0] == key:
        return current[1]
    with _default_lock:
        if _default is None or _default[0] != key:
            _default = (key, calendar_from_settings(settings))
        return _default[1]


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
) -> EventDeadlines:
    """Respond and resolve deadlines for an event of ``grade`` reported at ``start``."""
    limits = limits if limits is not None else time_limits_from_settings()
    grade_limits = limits[grade.upper()]
    cal = calendar or default_calendar()
    return EventDeadlines(deadline(start, grade_limits.respond, cal), deadline(start, grade_limits.resolve, cal))


__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "DEFAULT_TIME_LIMITS",
    "FALLBACK",
    "FIELDS",
    "GRADES",
    "HOLIDAYS_DIR",
    "LIBRARY",
    "OPERATOR",
    "REMINDER_FRACTION",
    "UNITS",
    "Deadline",
    "EventDeadlines",
    "GradeLimits",
    "Limit",
    "WorkCalendar",
    "YearSchedule",
    "calendar_from_settings",
    "deadline",
    "default_calendar",
    "due",
    "event_deadlines",
    "holiday_paths",
    "load_holiday_file",
    "load_holidays",
    "parse_limit",
    "parse_office_hours",
    "parse_time_limits",
    "reminder_at",
    "time_limits_from_settings",
]
