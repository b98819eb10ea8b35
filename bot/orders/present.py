"""How an order reads to people: its place and the grid it was done in."""

from __future__ import annotations

from bot.domain.models import Grid, Order

SHOWN_RATINGS = ("satisfied", "basic")  # 晒单 shows these


def place_of(order: Order) -> str:
    return order.place_text or (order.grid.full_name if order.grid else "未提供")


def grid_label(grid: Grid | None) -> str:
    if grid is None:
        return ""
    community = grid.ancestor("community")
    return f"{community.name}·{grid.name}" if community is not None and community is not grid else grid.name
