"""How an order reads to people: its place, masked names and phones, local times, rating words."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.models import Grid, Order
from settings import get_settings

RATING_VALUES = {"满意": "satisfied", "非常满意": "satisfied", "基本满意": "basic", "不满意": "unsatisfied",
                 "不太满意": "unsatisfied"}
RATING_LABELS = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}
SHOWN_RATINGS = ("satisfied", "basic")  # 晒单 shows these
PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def place_of(order: Order) -> str:
    return order.place_text or (order.grid.full_name if order.grid else "未提供")


def mask_phone(text: str | None) -> str:
    """13812345678 → 138****5678 wherever it appears (the same rule as the admin lists)."""
    return PHONE.sub(r"\1****\3", text) if text else ""


def mask_name(name: str | None) -> str:
    """周红 → 周*, 欧阳娜娜 → 欧***: the showcase never shows a whole name."""
    name = (name or "").strip()
    return (name[0] + "*" * max(1, len(name) - 1)) if name else "志愿者"


def local_date(dt: datetime | None) -> str:
    return dt.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d") if dt else ""


def local_time(dt: datetime | None) -> str:
    return dt.astimezone(ZoneInfo(get_settings().timezone)).strftime("%m-%d %H:%M") if dt else ""


def grid_label(grid: Grid | None) -> str:
    if grid is None:
        return ""
    community = grid.ancestor("community")
    return f"{community.name}·{grid.name}" if community is not None and community is not grid else grid.name
