"""The product's words, each defined once: event/order numbers, grades, rating words, local time.

Everything that parses a number, shows a grade, reads a rating word or prints a time imports it
from here. State sets and status / action labels live on the state machine, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from nlp import extract
from settings import get_settings

# ----------------------------------------------------------------------------- numbers

# Events and volunteer service orders share one format: WL + local date + "-" + a daily sequence.
NUMBER_PREFIX = "WL"
NUMBER_PATTERN = r"WL\d{8}-\d{4}"
NUMBER_IN_TEXT = re.compile(NUMBER_PATTERN, re.I)
WHOLE_NUMBER = re.compile(rf"^{NUMBER_PATTERN}$", re.I)


def day_key(local_day: datetime) -> str:
    """WL20261123: the prefix of every number taken on that local day (the daily counter's key)."""
    return f"{NUMBER_PREFIX}{local_day:%Y%m%d}"


def format_number(key: str, sequence: int) -> str:
    """WL20261123 + 42 → WL20261123-0042."""
    return f"{key}-{sequence:04d}"


def find_number(text: str | None) -> str | None:
    """The first number in a message, upper-cased (residents type wl20261123-0042 too)."""
    found = NUMBER_IN_TEXT.search(text or "")
    return found.group(0).upper() if found else None


def is_number(text: str | None) -> bool:
    return bool(WHOLE_NUMBER.match((text or "").strip()))


# ----------------------------------------------------------------------------- grades


@dataclass(frozen=True)
class Grade:
    """A-D (seed 002): how hard the case is, and which level handles it (seed 003 "1+5+N")."""

    code: str
    label: str  # 简易 / 一般 / 复杂 / 疑难
    unit: str  # the kind of queue the grade routes to: grid, street, district, city
    unit_label: str

    @property
    def title(self) -> str:
        return f"{self.code} {self.label}"


GRADES: dict[str, Grade] = {g.code: g for g in (
    Grade("A", "简易", "grid", "网格站"),
    Grade("B", "一般", "street", "街道职能部门"),
    Grade("C", "复杂", "district", "区网格化指挥中心"),
    Grade("D", "疑难", "city", "市指挥中心"),
)}
GRADE_CODES = tuple(GRADES)
GRADE_TITLES = {code: grade.title for code, grade in GRADES.items()}  # "A 简易", for pickers and lists
UNIT_LABELS = {code: grade.unit_label for code, grade in GRADES.items()}  # by grade
UNIT_KIND_LABELS = {grade.unit: grade.unit_label for grade in GRADES.values()}  # by queue kind


def next_grade(code: str) -> str | None:
    """One level up (A→B→C→D); None above D."""
    index = GRADE_CODES.index(code) + 1
    return GRADE_CODES[index] if index < len(GRADE_CODES) else None


# ----------------------------------------------------------------------------- ratings

# The 12345 scale (一事一评, 评单): stored values and the words shown for them.
RATING_SCALE = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}
RATING_LABELS = RATING_SCALE | {"unrated": "未评价"}  # 未评价: no answer within the rating window
_VALUE_OF_LABEL = {label: value for value, label in RATING_SCALE.items()}

# nlp owns the rating words (its classifier reads the same list): every word it knows, → a value.
RATING_WORDS: dict[str, str] = {word: _VALUE_OF_LABEL[label] for word, label in extract.RATING_WORDS}

# The words a chat reply may open with to rate (DESIGN's chat words and their plain variants);
# longest first, so 不满意 is not read as 满意. What they mean comes from RATING_WORDS.
REPLY_WORDS = ("非常满意", "基本满意", "不太满意", "不满意", "满意")
RATING_REPLY = re.compile(rf"^\s*({NUMBER_PATTERN})?\s*({'|'.join(REPLY_WORDS)})[\s,，。:：!！]*(.*)$", re.I | re.S)


def rating_value(word: str) -> str:
    """满意 / 非常满意 → satisfied, 基本满意 → basic, 不满意 / 不太满意 → unsatisfied."""
    return RATING_WORDS[word]


# ----------------------------------------------------------------------------- local time

# Times are stored in UTC and shown in the service's zone (settings.timezone, Asia/Shanghai).
SHORT = "%m-%d %H:%M"  # chat texts and pushes
MINUTE = "%Y-%m-%d %H:%M"  # ledgers
DAY = "%Y-%m-%d"
MONTH = "%Y-%m"
STAMP = "%Y%m%d"  # file names


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_zone() -> ZoneInfo:
    return _zone(get_settings().timezone)


def local_now(now: datetime | None = None) -> datetime:
    zone = local_zone()
    return (now or datetime.now(zone)).astimezone(zone)


def local_iso(dt: datetime | None) -> str | None:
    """2026-11-23T09:30:00+08:00, for JSON and Open311."""
    return dt.astimezone(local_zone()).isoformat(timespec="seconds") if dt else None


def local_text(dt: datetime | None, pattern: str = SHORT) -> str:
    """A time as people read it, in one of the patterns above; "" for no time."""
    return dt.astimezone(local_zone()).strftime(pattern) if dt else ""


def local_naive(dt: datetime | None) -> datetime | None:
    """Excel has no time zones: the local wall-clock time without tzinfo, to the second."""
    return dt.astimezone(local_zone()).replace(tzinfo=None, microsecond=0) if dt else None
