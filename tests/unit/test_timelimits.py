"""Time-limit arithmetic (bot/timelimits: policy, workdays, holiday_files): explicit datetimes, no sleeping."""

from __future__ import annotations

import json
import logging
import time as _time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

import settings as settings_module
from bot.timelimits.holiday_files import HOLIDAYS_DIR, load_holiday_file, load_holidays
from bot.timelimits.policy import (
    DEFAULT_TIME_LIMITS,
    Limit,
    deadline,
    due,
    event_deadlines,
    parse_time_limits,
    reminder_at,
    time_limits_from_settings,
)
from bot.timelimits.workdays import (
    FALLBACK,
    LIBRARY,
    OPERATOR,
    WorkCalendar,
    calendar_from_settings,
    default_calendar,
    parse_office_hours,
)

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# ------------------------------------------------------------------------------------ limits


@pytest.mark.parametrize(
    "text, amount, unit",
    [("2h", 2, "h"), ("30m", 30, "m"), ("90s", 90, "s"), ("1wd", 1, "wd"), (" 15 WD ", 15, "wd"), ("4H", 4, "h")],
)
def test_limit_parse(text, amount, unit):
    limit = Limit.parse(text)
    assert (limit.amount, limit.unit) == (amount, unit)
    assert Limit.parse(str(limit)) == limit


@pytest.mark.parametrize("text", ["", "2", "h", "2d", "2 days", "1.5h", "-1h", "0h", "0wd", "2hwd", "999wd", "400d"])
def test_limit_parse_rejects(text):
    with pytest.raises(ValueError):
        Limit.parse(text)


def test_limit_labels_and_duration():
    assert Limit.parse("2h").duration == timedelta(hours=2)
    assert Limit.parse("3wd").label == "3个工作日"
    assert Limit.parse("30m").label == "30分钟"
    with pytest.raises(ValueError):
        Limit.parse("1wd").duration  # noqa: B018


def test_defaults_are_design_md():
    limits = parse_time_limits("")
    table = {g: {f: str(limits[g][f]) for f in ("respond", "resolve")} for g in "ABCD"}
    assert table == {
        "A": {"respond": "2h", "resolve": "1wd"},
        "B": {"respond": "4h", "resolve": "3wd"},
        "C": {"respond": "1wd", "resolve": "5wd"},
        "D": {"respond": "1wd", "resolve": "15wd"},
    }
    assert parse_time_limits(None) == limits == parse_time_limits("  ")
    assert {g: dict(v) for g, v in DEFAULT_TIME_LIMITS.items()} == table


def test_overrides_merge_over_defaults():
    limits = parse_time_limits(json.dumps({"A": {"respond": "30m"}, "c": {"resolve": "10wd", "respond": "8h"}}))
    assert limits["A"].respond == Limit(30, "m")
    assert limits["A"].resolve == Limit(1, "wd")  # untouched default
    assert limits["B"].respond == Limit(4, "h")
    assert limits["C"].respond == Limit(8, "h") and limits["C"].resolve == Limit(10, "wd")
    assert limits["D"].resolve == Limit(15, "wd")


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", ["not valid JSON"]),
        ('["A"]', ["JSON object"]),
        ('{"E": {"respond": "1h"}}', ["unknown grade", "'E'"]),
        ('{"A": "2h"}', ["grade A", "object"]),
        ('{"B": {"resolv": "3wd"}}', ["grade B", "unknown field", "'resolv'"]),
        ('{"B": {"resolve": "3d"}}', ["grade B resolve", "'3d'"]),
        ('{"C": {"respond": 7200}}', ["grade C respond", "7200"]),
        ('{"D": {"respond": "0h"}}', ["grade D respond", "positive"]),
        ('{"A": {"respond": "2 hours"}}', ["grade A respond", "'2 hours'"]),
    ],
)
def test_bad_time_limits_name_grade_and_field(text, words):
    with pytest.raises(ValueError) as exc:
        parse_time_limits(text)
    for word in words:
        assert word in str(exc.value)


def test_time_limits_from_settings():
    s = settings_module.Settings(time_limits='{"A": {"respond": "1h"}}')
    assert time_limits_from_settings(s)["A"].respond == Limit(1, "h")
    with pytest.raises(ValueError, match="grade A respond"):
        time_limits_from_settings(settings_module.Settings(time_limits='{"A": {"respond": "1x"}}'))


# ----------------------------------------------------------------------------- office hours


def test_office_hours_parse():
    assert len(parse_office_hours("08:30-17:30")) == 1
    assert len(parse_office_hours("08:30-12:00, 14:00-17:30")) == 2
    assert WorkCalendar().day_length == timedelta(hours=9)
    assert WorkCalendar(office_hours="08:30-12:00,14:00-17:30").day_length == timedelta(hours=7)
    for bad in ["", "8-17", "17:30-08:30", "08:30-12:00,11:00-17:30", "25:00-26:00", "08:30"]:
        with pytest.raises(ValueError):
            parse_office_hours(bad)


# ------------------------------------------------------------------------ the calendar itself


def test_calendar_matches_library_for_2026(cal):
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    assert cal.year_source(2026) == LIBRARY
    assert cal.fallback_years() == frozenset()


def test_example_file_is_the_real_2026_schedule():
    """The documented format, loaded explicitly, agrees with chinesecalendar day by day."""
    schedule = load_holiday_file(HOLIDAYS_DIR / "example.toml")
    assert schedule.year == 2026
    cal = WorkCalendar(holidays={2026: schedule})
    assert cal.year_source(2026) == OPERATOR
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    # and the packaged directory ships no YYYY file, so the example is not picked up by default
    assert load_holidays(HOLIDAYS_DIR) == {}


def test_naive_datetimes_are_refused(cal):
    with pytest.raises(ValueError, match="naive"):
        due(datetime(2026, 11, 25, 10), "1wd", cal)
    with pytest.raises(ValueError, match="naive"):
        due(datetime(2026, 11, 25, 10), "2h", cal)


def test_utc_input_is_read_in_shanghai_and_returned_aware(cal):
    start = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Wednesday
    result = due(start, "1wd", cal)
    assert result == at(2026, 11, 26, 10, 0)
    assert result.utcoffset() == timedelta(hours=8)


# ------------------------------------------------------------------------- wall-clock limits


def test_hour_limits_run_through_nights_and_holidays(cal):
    assert due(at(2026, 11, 25, 10), "2h", cal) == at(2026, 11, 25, 12)
    assert due(at(2026, 9, 30, 23, 0), "2h", cal) == at(2026, 10, 1, 1, 0)  # into National Day
    assert due(at(2026, 10, 3, 12), "4h", cal) == at(2026, 10, 3, 16)  # on a holiday
    assert due(at(2026, 11, 28, 22, 30), "90m", cal) == at(2026, 11, 29, 0, 0)  # Saturday night
    assert due(at(2026, 11, 25, 10), "45s", cal) == at(2026, 11, 25, 10, 0, 45)


# ---------------------------------------------------------------------------- working days


def test_office_hours_rules_on_an_ordinary_week(cal):
    # Wed 25 Nov 2026
    assert due(at(2026, 11, 25, 10), "1wd", cal) == at(2026, 11, 26, 10)
    assert due(at(2026, 11, 25, 10), "3wd", cal) == at(2026, 11, 30, 10)  # Thu, Fri, (weekend), Mon
    assert due(at(2026, 11, 25, 7, 0), "1wd", cal) == at(2026, 11, 25, 17, 30)  # before opening
    assert due(at(2026, 11, 25, 8, 30), "1wd", cal) == at(2026, 11, 25, 17, 30)  # at opening
    assert due(at(2026, 11, 25, 17, 29), "1wd", cal) == at(2026, 11, 26, 17, 29)
    assert due(at(2026, 11, 25, 17, 30), "1wd", cal) == at(2026, 11, 26, 17, 30)  # closing = outside
    assert due(at(2026, 11, 25, 20, 0), "1wd", cal) == at(2026, 11, 26, 17, 30)  # evening
    assert due(at(2026, 11, 27, 20, 0), "1wd", cal) == at(2026, 11, 30, 17, 30)  # Friday evening
    assert due(at(2026, 11, 28, 11, 0), "1wd", cal) == at(2026, 11, 30, 17, 30)  # Saturday
    assert due(at(2026, 11, 28, 11, 0), "2wd", cal) == at(2026, 12, 1, 17, 30)
    assert cal.start_of_count(at(2026, 11, 28, 11)) == at(2026, 11, 30, 8, 30)
    assert cal.start_of_count(at(2026, 11, 25, 10)) == at(2026, 11, 25, 10)


def test_across_national_day_2026(cal):
    # Sep 25–27 中秋, Oct 1–7 国庆 off; Sun Sep 20 and Sat Oct 10 are 调休 working days.
    assert cal.is_workday(date(2026, 9, 20)) and not cal.is_workday(date(2026, 10, 5))
    assert cal.is_workday(date(2026, 10, 10)) and not cal.is_workday(date(2026, 10, 11))
    wed = at(2026, 9, 30, 10)
    assert due(wed, "1wd", cal) == at(2026, 10, 8, 10)  # the whole holiday skipped
    assert due(wed, "2wd", cal) == at(2026, 10, 9, 10)
    assert due(wed, "3wd", cal) == at(2026, 10, 10, 10)  # Saturday, a 调休 working day
    assert due(wed, "4wd", cal) == at(2026, 10, 12, 10)  # Sunday Oct 11 is off
    assert due(wed, "5wd", cal) == at(2026, 10, 13, 10)
    assert due(at(2026, 10, 3, 9, 0), "1wd", cal) == at(2026, 10, 8, 17, 30)  # reported during the holiday
    assert due(at(2026, 9, 19, 12, 0), "1wd", cal) == at(2026, 9, 20, 17, 30)  # Sat → 调休 Sunday
    assert due(at(2026, 9, 24, 10, 0), "1wd", cal) == at(2026, 9, 28, 10, 0)  # over 中秋
    # Sep 28, 29, 30, Oct 8, 9, 10 (Sat), 12–16, 19, 20, 21, 22
    assert due(at(2026, 9, 24, 10, 0), "15wd", cal) == at(2026, 10, 22, 10, 0)


def test_across_spring_festival_2026(cal):
    # Sat Feb 14 works, Feb 15–23 off, Sat Feb 28 works.
    fri = at(2026, 2, 13, 10)
    assert due(fri, "1wd", cal) == at(2026, 2, 14, 10)
    assert due(fri, "2wd", cal) == at(2026, 2, 24, 10)
    assert due(fri, "5wd", cal) == at(2026, 2, 27, 10)
    assert due(fri, "6wd", cal) == at(2026, 2, 28, 10)
    assert due(fri, "7wd", cal) == at(2026, 3, 2, 10)
    assert due(at(2026, 2, 18, 15), "3wd", cal) == at(2026, 2, 26, 17, 30)  # 3 whole days from Tue 24


def test_end_of_known_calendar_falls_back_to_monday_friday(cal, caplog):
    caplog.set_level(logging.WARNING, logger="bot.timelimits.workdays")
    assert cal.year_source(2027) == FALLBACK
    assert cal.fallback_years() == frozenset()  # asking is not using
    start = at(2026, 12, 28, 10)  # Monday
    # Dec 29, 30, 31 (library), then Mon–Fri: Jan 1, 4–8, 11–15, 18
    assert due(start, "15wd", cal) == at(2027, 1, 18, 10)
    assert due(start, "4wd", cal) == at(2027, 1, 1, 10)
    assert due(at(2026, 12, 31, 20), "1wd", cal) == at(2027, 1, 1, 17, 30)
    assert cal.fallback_years() == frozenset({2027})
    for _ in range(3):
        due(at(2027, 3, 1, 10), "15wd", cal)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "2027" in r.getMessage()]
    assert len(warnings) == 1
    assert "Monday–Friday" in warnings[0].getMessage()


def test_far_future_and_far_past_never_crash(cal):
    assert due(at(2031, 12, 31, 12), "15wd", cal) > at(2031, 12, 31, 12)
    assert due(at(1999, 12, 31, 12), "1wd", cal) == at(2000, 1, 3, 12)
    assert {2000, 1999, 2031, 2032} <= cal.fallback_years()


OPERATOR_2027 = """\
year = 2027
source = "test"
holidays = ["2027-01-01..2027-01-03", 2027-01-11]
workdays = ["2027-01-09"]   # a Saturday made a working day
"""


def test_end_of_known_calendar_with_operator_2027_file(tmp_path, caplog):
    (tmp_path / "2027.toml").write_text(OPERATOR_2027, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    cal = WorkCalendar(holidays=tmp_path)
    assert cal.year_source(2027) == OPERATOR
    assert not cal.is_workday(date(2027, 1, 1)) and not cal.is_workday(date(2027, 1, 11))
    assert cal.is_workday(date(2027, 1, 9))
    start = at(2026, 12, 28, 10)
    # Dec 29, 30, 31; Jan 4–8 (5); Sat 9; Jan 12–15 (4); 16 Sat, 17 Sun; Jan 18 is the 14th?
    # count: 29,30,31 =3; 4,5,6,7,8 =8; 9 =9; 12,13,14,15 =13; 18 =14; 19 =15
    assert due(start, "15wd", cal) == at(2027, 1, 19, 10)
    assert due(start, "4wd", cal) == at(2027, 1, 4, 10)
    assert cal.fallback_years() == frozenset()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "bot.timelimits.workdays"]


def test_operator_json_file_and_single_file_path(tmp_path):
    path = tmp_path / "my-2027-calendar.json"
    path.write_text(json.dumps({"year": 2027, "holidays": ["2027-01-01"], "workdays": []}), encoding="utf-8")
    cal = WorkCalendar(holidays=path)
    assert cal.year_source(2027) == OPERATOR
    assert due(at(2026, 12, 31, 10), "1wd", cal) == at(2027, 1, 4, 10)


def test_operator_data_wins_over_the_library(tmp_path):
    (tmp_path / "2026.json").write_text(json.dumps({"holidays": ["2026-11-26"]}), encoding="utf-8")
    cal = WorkCalendar(holidays=[tmp_path])
    assert not cal.is_workday(date(2026, 11, 26))
    assert due(at(2026, 11, 25, 10), "1wd", cal) == at(2026, 11, 27, 10)


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("2027.toml", "year = 2027\nholidays = [", ["2027.toml"]),
        ("2027.toml", "year = 2028\nholidays = []", ["named for 2027", "2028"]),
        ("2027.toml", 'holidays = ["2027-13-01"]', ["2027-13-01"]),
        ("2027.toml", 'holidays = ["2029-01-01"]', ["outside year 2027"]),
        ("2027.toml", 'holidays = ["2027-01-01"]\nworkdays = ["2027-01-01"]', ["both"]),
        ("2027.toml", 'holidays = ["2027-01-05..2027-01-01"]', ["bad range"]),
        ("2027.toml", 'holiday = ["2027-01-01"]', ["unknown keys", "holiday"]),
        ("2027.toml", "workdays = []", ["'holidays' is required"]),
        ("cal.json", '{"holidays": []}', ["'year'"]),
        ("2027.yaml", "holidays: []", ["toml or .json"]),
    ],
)
def test_bad_operator_files_name_the_file(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as exc:
        WorkCalendar(holidays=path)
    assert str(path) in str(exc.value)
    for word in words:
        assert word in str(exc.value)


def test_missing_holiday_path_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        WorkCalendar(holidays=tmp_path / "nowhere")


def test_lunch_break_office_hours():
    cal = WorkCalendar(office_hours="08:30-12:00,14:00-17:30")
    wed = at(2026, 11, 25, 10)
    assert due(wed, "1wd", cal) == at(2026, 11, 26, 10)
    assert due(at(2026, 11, 25, 15), "1wd", cal) == at(2026, 11, 26, 15)
    # reported during the break: counting starts at 14:00; a deadline on the break boundary is 12:00
    assert cal.start_of_count(at(2026, 11, 25, 13)) == at(2026, 11, 25, 14)
    assert due(at(2026, 11, 25, 13), "1wd", cal) == at(2026, 11, 26, 12)
    assert cal.working_time_between(at(2026, 11, 25, 10), at(2026, 11, 25, 15)) == timedelta(hours=3)


def test_working_time_between(cal):
    assert cal.working_time_between(at(2026, 11, 25, 10), at(2026, 11, 25, 12)) == timedelta(hours=2)
    assert cal.working_time_between(at(2026, 11, 27, 17), at(2026, 11, 30, 9)) == timedelta(hours=1)
    assert cal.working_time_between(at(2026, 9, 30, 10), at(2026, 10, 8, 10)) == timedelta(hours=9)
    assert cal.working_time_between(at(2026, 11, 25, 12), at(2026, 11, 25, 10)) == timedelta()


def test_due_is_consistent_with_working_time(cal):
    """For starts every 97 minutes from mid-Sep 2026 to Feb 2027: N wd of working time elapse exactly."""
    start = at(2026, 9, 15, 0, 7)
    while start < at(2027, 2, 15):
        for n in (1, 3, 15):
            result = due(start, f"{n}wd", cal)
            assert cal.working_time_between(start, result) == n * cal.day_length, (start, n)
            assert cal.is_workday(result.date())
            assert (
                at(result.year, result.month, result.day, 8, 30)
                < result
                <= at(result.year, result.month, result.day, 17, 30)
            )
        start += timedelta(minutes=97)


# ------------------------------------------------------------------------------- reminders


def test_reminder_wall_clock(cal):
    start = at(2026, 11, 25, 10)
    assert reminder_at(start, due(start, "2h", cal), "2h", cal) == at(2026, 11, 25, 11, 36)
    assert reminder_at(start, at(2026, 11, 25, 14), calendar=cal) == at(2026, 11, 25, 13, 12)  # no limit → wall
    night = at(2026, 9, 30, 23)
    assert reminder_at(night, due(night, "4h", cal), "4h", cal) == at(2026, 10, 1, 2, 12)


def test_reminder_working_time(cal):
    wed = at(2026, 9, 30, 10)
    d = deadline(wed, "1wd", cal)
    assert d.due == at(2026, 10, 8, 10)
    assert d.remind_at == at(2026, 9, 30, 17, 12)  # 80 % of 9 h = 7 h 12 min of office time
    d5 = deadline(wed, "5wd", cal)  # 45 h of office time → reminder after 36 h = 4 office days
    assert d5.due == at(2026, 10, 13, 10)
    assert d5.remind_at == at(2026, 10, 12, 10)
    sat = deadline(at(2026, 11, 28, 11), "1wd", cal)  # counting starts Monday 08:30
    assert sat.remind_at == at(2026, 11, 30, 15, 42)
    assert reminder_at(wed, wed, "1wd", cal) == wed
    assert reminder_at(wed, d.due, "1wd", cal, fraction=1.0) == d.due


def test_event_deadlines_per_grade(cal):
    limits = parse_time_limits('{"B": {"respond": "1h"}}')
    start = at(2026, 11, 25, 10)
    a = event_deadlines(start, "A", limits, cal)
    assert a.respond.due == at(2026, 11, 25, 12) and a.resolve.due == at(2026, 11, 26, 10)
    b = event_deadlines(start, "b", limits, cal)
    assert b.respond.due == at(2026, 11, 25, 11) and b.resolve.due == at(2026, 11, 30, 10)
    d = event_deadlines(at(2026, 12, 28, 10), "D", limits, cal)
    assert d.resolve.due == at(2027, 1, 18, 10)


# --------------------------------------------------------------------------- from settings


def test_calendar_from_settings_and_default(tmp_path):
    (tmp_path / "2027.toml").write_text(OPERATOR_2027, encoding="utf-8")
    s = settings_module.Settings()
    s.__dict__["office_hours"] = "09:00-17:00"  # until settings.py grows the field
    s.__dict__["holidays_path"] = str(tmp_path)
    cal = calendar_from_settings(s)
    assert cal.day_length == timedelta(hours=8)
    assert cal.year_source(2027) == OPERATOR
    # without those fields: the documented defaults
    plain = calendar_from_settings(settings_module.Settings())
    assert plain.day_length == timedelta(hours=9) and plain.year_source(2027) == FALLBACK


def test_default_calendar_follows_active_settings(monkeypatch):
    first = settings_module.Settings(timezone="Asia/Shanghai")
    monkeypatch.setattr(settings_module, "_active", first)
    cal = default_calendar()
    assert default_calendar() is cal
    assert due(at(2026, 11, 25, 10), "1wd") == at(2026, 11, 26, 10)
    monkeypatch.setattr(settings_module, "_active", settings_module.Settings(timezone="Asia/Urumqi"))
    assert default_calendar() is not cal


# ------------------------------------------------------------------------------ performance


def test_many_due_dates_are_fast(cal):
    starts = [at(2026, 12, 1) + timedelta(minutes=37 * i) for i in range(10_000)]
    t0 = _time.perf_counter()
    for s in starts:
        d = due(s, "15wd", cal)
        reminder_at(s, d, "15wd", cal)
    elapsed = _time.perf_counter() - t0
    assert elapsed < 5.0, elapsed  # 10,000 due + reminder pairs: typically ~0.6 s


def test_urgent_limits_default_and_override():
    limits = parse_time_limits("")
    assert limits["urgent"].respond == Limit(15, "m") and limits["urgent"].resolve == Limit(1, "wd")
    changed = parse_time_limits('{"urgent": {"respond": "10m"}, "Urgent": {"resolve": "4h"}}')
    assert changed["urgent"].respond == Limit(10, "m") and changed["urgent"].resolve == Limit(4, "h")
    with pytest.raises(ValueError, match="grade urgent respond"):
        parse_time_limits('{"urgent": {"respond": "soon"}}')


def test_urgent_events_get_the_urgent_limits_whatever_their_grade(cal):
    start = at(2026, 11, 25, 10)
    limits = parse_time_limits("")
    b = event_deadlines(start, "B", limits, cal, urgent=True)
    assert b.respond.due == start + timedelta(minutes=15)
    assert event_deadlines(start, "B", limits, cal).respond.due == start + timedelta(hours=4)
