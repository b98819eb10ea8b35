"""Extraction from a resident's message: places, phone numbers, event numbers, ratings.

All functions take normalised text (see `normalize`) and never raise.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable

MAX_CHARS = 20_000

_CTRL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)
_SPACE = re.compile(r"\s+")


def normalize(text: object) -> str:
    """NFKC (full-width digits and letters → ASCII), control and zero-width characters removed,
    whitespace collapsed, capped at MAX_CHARS."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    text = _CTRL.sub("", text)
    try:
        text = unicodedata.normalize("NFKC", text)
    except Exception:  # noqa: BLE001 - never fail on odd input
        pass
    return _SPACE.sub(" ", text).strip()


# ----------------------------------------------------------------------------- phone

_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9][0-9](?:[- ]?[0-9]{4}){2})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2})[- ]?([2-9][0-9]{6,7})(?![0-9])")
_SHORT = re.compile(r"(?<![0-9])(110|119|120|122|12345|96110)(?![0-9])")


def extract_phone(text: str) -> str | None:
    m = _MOBILE.search(text)
    if m:
        return re.sub(r"[- ]", "", m.group(1))
    m = _LANDLINE.search(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}"
    return None


# ----------------------------------------------------------------------------- event number

_EVENT = re.compile(r"(?<![A-Za-z0-9])[Ww][Ll][- ]?(20[0-9]{2}[01][0-9][0-3][0-9])[- _]?([0-9]{4})(?![0-9])")


def extract_event_number(text: str) -> str | None:
    m = _EVENT.search(text)
    if not m:
        return None
    return f"WL{m.group(1)}-{m.group(2)}"


# ----------------------------------------------------------------------------- rating

# Public: the bot's vocabulary (bot/domain/vocabulary.py) reads these, so chat and classifier agree.
RATING_WORDS = (
    ("非常不满意", "不满意"),
    ("很不满意", "不满意"),
    ("不太满意", "不满意"),
    ("不满意", "不满意"),
    ("差评", "不满意"),
    ("基本满意", "基本满意"),
    ("比较满意", "基本满意"),
    ("还算满意", "基本满意"),
    ("一般般", "基本满意"),
    ("还行", "基本满意"),
    ("还可以", "基本满意"),
    ("非常满意", "满意"),
    ("很满意", "满意"),
    ("十分满意", "满意"),
    ("满意", "满意"),
    ("好评", "满意"),
)
_RATING_LEAD = re.compile(r"^[\s,.!?，。！？、~～:：]*(?:评价|我的评价|评分|打分)?[\s,.!?，。！？:：]*")


def rating_at_start(text: str) -> bool:
    """The message opens with a rating word (after an optional 评价:)."""
    head = _RATING_LEAD.sub("", text)
    return any(head.startswith(word) for word, _ in RATING_WORDS)


def extract_rating(text: str) -> str | None:
    """The rating a message *is*: it starts with a rating word (after 评价:), or is a short message
    made of one. 满意/基本满意/不满意 (the 12345 scale)."""
    if not text:
        return None
    head = _RATING_LEAD.sub("", text)
    for word, value in RATING_WORDS:
        if head.startswith(word):
            return value
    if len(text) <= 16:
        for word, value in RATING_WORDS:
            if word in text:
                return value
    return None


# ----------------------------------------------------------------------------- place

_CN_NUM = "零〇一二两三四五六七八九十百"
_NUM = rf"(?:[0-9]{{1,4}}|[{_CN_NUM}]{{1,4}})"
_BUILDING = (
    rf"(?:{_NUM}[-#]?(?:号楼|栋楼(?![下上前后道顶里梯])|幢楼(?![下上前后道顶里梯])|栋|幢|号院|区|期)"
    rf"(?:{_NUM}(?:单元|门|号楼|栋))?(?:{_NUM}(?:楼|层))?(?:{_NUM}(?:室|号|户))?"
    rf"|{_NUM}单元(?:{_NUM}(?:楼|层))?(?:{_NUM}(?:室|号|户))?)"
)
_ROAD = r"[\u4e00-\u9fff]{1,8}?(?:大道|大街|路|街|巷|道)"
_CROSS = re.compile(
    rf"({_ROAD})(?:与|和|跟|、)({_ROAD})(?:的)?(?:交叉口|交汇处|交界处|十字路口|路口|丁字路口)"
)
_ROAD_NO = re.compile(rf"({_ROAD}){_NUM}号(?:附近|门口|旁边|对面)?")
_ESTATE_SUFFIX = (
    "小区|花园|家园|社区|公寓|新村|新城|苑|广场|公园|菜市场|农贸市场|小学|中学|幼儿园|医院|大厦|商场"
)
_ESTATE = re.compile(rf"([\u4e00-\u9fffA-Za-z0-9]{{2,8}}?(?:{_ESTATE_SUFFIX}))")
_BUILDING_RE = re.compile(_BUILDING)
_NOT_PLACE_PREFIX = re.compile(
    r"^(?:我们|你们|他们|咱们|这个|那个|这边|那边|我家|我|你|他|本|该|整个|隔壁|旁边|对面|附近|一个|"
    r"各个|每个|很多|好多|所有|住在|在|到|去)+"
)
_ESTATE_STOP = {
    "小区", "社区", "花园", "家园", "公园", "广场", "市场", "菜市场", "超市", "医院", "城", "村", "里", "苑"
}

_places_lock = threading.Lock()
_places: frozenset[str] = frozenset()
_place_first: dict[str, tuple[str, ...]] = {}


def add_places(names: Iterable[str]) -> None:
    """Register grid names and aliases for place extraction (longest match wins)."""
    global _places, _place_first
    with _places_lock:
        new = set(_places)
        for n in names:
            n = normalize(n)
            if len(n) >= 2:
                new.add(n)
        first: dict[str, list[str]] = {}
        for n in new:
            first.setdefault(n[0], []).append(n)
        _place_first = {k: tuple(sorted(v, key=len, reverse=True)) for k, v in first.items()}
        _places = frozenset(new)


def known_places() -> frozenset[str]:
    return _places


def _find_alias(text: str) -> tuple[int, str] | None:
    first = _place_first
    if not first:
        return None
    for i, ch in enumerate(text):
        cands = first.get(ch)
        if cands:
            for c in cands:
                if text.startswith(c, i):
                    return i, c
    return None


def _extend_building(text: str, end: int) -> str:
    m = _BUILDING_RE.match(text, end)
    return m.group(0) if m else ""


def extract_place(text: str) -> str | None:
    """Grid alias (+ building), XX路与YY路交叉口, estate name (+ building), 3栋2单元 / 12号楼, XX路N号."""
    if not text:
        return None
    hit = _find_alias(text)
    if hit:
        i, name = hit
        end = i + len(name)
        return name + _extend_building(text, end)
    m = _CROSS.search(text)
    if m:
        return _strip_prefix(m.group(0))
    for m in _ESTATE.finditer(text):
        name = _strip_prefix(m.group(1))
        if len(name) >= 3 and name not in _ESTATE_STOP:
            return name + _extend_building(text, m.end())
    m = _ROAD_NO.search(text)
    if m:
        return _strip_prefix(m.group(0))
    m = _BUILDING_RE.search(text)
    if m and not re.fullmatch(rf"{_NUM}(?:区|期)", m.group(0)):
        return m.group(0)
    return None


def _strip_prefix(s: str) -> str:
    return _NOT_PLACE_PREFIX.sub("", s) or s
