"""Routing: which grid an event belongs to, and whose queue (grade → handling unit) it goes into."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.domain.models import Grid, Worker
from bot.domain.vocabulary import UNIT_LABELS
from bot.places import gridindex, roles

NEAREST_GRID_METRES = 1000



@dataclass
class Route:
    grid: Grid | None
    worker: Worker | None
    unit: str  # "grid:<id>", "street:<id>", "district:<id>", "city", or "dispatch"

    @property
    def label(self) -> str:
        if self.unit == "dispatch" or self.grid is None:
            return "指挥中心调度员"
        if self.worker is not None and self.unit.startswith("grid:"):
            return f"{self.grid.full_name} 网格员{self.worker.name}"
        kind, _, _ = self.unit.partition(":")
        street, district = self.grid.ancestor("street"), self.grid.ancestor("district")
        if kind == "grid":
            return f"{self.grid.full_name} 网格站"
        if kind == "street" and street is not None:
            return f"{street.name}职能部门"
        if kind == "district" and district is not None:
            return f"{district.name}网格化指挥中心"
        return UNIT_LABELS["D"]


def grid_by_text(session: Session, text: str) -> tuple[Grid | None, str | None]:
    """The grid whose longest name or alias appears in the text, and the words that matched.
    A building's own worker is rare: a building routes to its grid, the building stays the place."""
    index = gridindex.current(session)
    grid_id, matched = index.by_text(text)
    return index.orm(session, grid_id), matched


def grid_by_location(session: Session, lat: float, lng: float) -> Grid | None:
    """Point-in-polygon first; otherwise the nearest grid centre within NEAREST_GRID_METRES."""
    index = gridindex.current(session)
    inside = index.containing(lng, lat)
    if inside is not None:
        return index.orm(session, inside)
    near = [(metres(lat, lng, g["lat"], g["lng"]), g["id"]) for g in index.grids()
            if g["lat"] is not None and g["lng"] is not None]
    near = [item for item in near if item[0] <= NEAREST_GRID_METRES]
    return index.orm(session, min(near)[1]) if near else None


def metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6371000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def grid_worker(session: Session, grid: Grid) -> Worker | None:
    """The grid's active grid worker, else the nearest ancestor's (from the worker cache: no SQL)."""
    node: Grid | None = grid
    while node is not None:
        worker = roles.grid_worker_of(session, node.id)
        if worker is not None:
            return worker
        node = node.parent
    return None


def route(session: Session, grid: Grid | None, grade: str) -> Route:
    """Category and grade decide the unit: A the grid worker, B the street, C the district, D the city."""
    if grid is None:
        return Route(None, None, "dispatch")
    if grade == "A":
        worker = grid_worker(session, grid)
        return Route(grid, worker, f"grid:{grid.id}" if worker else "dispatch")
    if grade == "B":
        street = grid.ancestor("street")
        return Route(grid, None, f"street:{street.id}" if street else "dispatch")
    if grade == "C":
        district = grid.ancestor("district")
        return Route(grid, None, f"district:{district.id}" if district else "dispatch")
    return Route(grid, None, "city")
