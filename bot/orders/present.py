"""How an order reads to people: its place, the grid it was done in, and the shared words it uses."""

from __future__ import annotations

from bot.domain.models import Grid, Order
from bot.domain.privacy import mask_name, mask_text  # noqa: F401 - callers mask through this module
from bot.domain.vocabulary import DAY, local_text

SHOWN_RATINGS = ("satisfied", "basic")  # 晒单 shows these


def place_of(order: Order) -> str:
    return order.place_text or (order.grid.full_name if order.grid else "未提供")


def local_date(dt) -> str:
    return local_text(dt, DAY)


def local_time(dt) -> str:
    return local_text(dt)


def grid_label(grid: Grid | None) -> str:
    if grid is None:
        return ""
    community = grid.ancestor("community")
    return f"{community.name}·{grid.name}" if community is not None and community is not grid else grid.name
