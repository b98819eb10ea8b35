"""Operator holiday data: one file per year (``bot/timelimits/holidays/YYYY.toml`` / ``YYYY.json``,
and the same in ``settings.holidays_path``), format in ``bot/timelimits/holidays/README.md``.

Every error is a ``ValueError`` naming the file, so the service refuses to start with a bad one.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

HOLIDAYS_DIR = Path(__file__).resolve().parent / "holidays"


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


def holiday_paths(settings: Any = None) -> list[Path]:
    """Where operator holiday files are read from: ``bot/timelimits/holidays/``, then ``settings.holidays_path``."""
    if settings is None:
        from settings import get_settings

        settings = get_settings()
    paths = [HOLIDAYS_DIR]
    extra = getattr(settings, "holidays_path", "") or ""
    if str(extra):
        paths.append(Path(extra))
    return paths
