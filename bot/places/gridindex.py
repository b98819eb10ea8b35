"""The grid tree, cached per runtime (one a process): every incoming message is matched against every place name,
and loading hundreds of grids per message would cost more than the rest of a report.

The cache is rebuilt when a grid changes in this process (a flush listener), when another process
changed one (a revision token in the shared store, replaced on every grid change and read with a
webhook delivery's claim), and at least every REFRESH_SECONDS (a grid import from another process
while running on the embedded store): bot/core/revisions.py.
ORM `Grid` objects are handed out by merging the cached rows into the caller's session without SQL,
so `grid.parent`, `full_name` and `ancestor()` keep working as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot.core import revisions, runtime
from bot.core.db import attach_loaded
from bot.core.revisions import RevisionCache, follow_changes
from bot.domain.models import Grid

REFRESH_SECONDS = 30.0
TOKEN_KEY = revisions.token("wl:grids:revision")
PLACE_LEVELS = ("community", "grid", "building")
COLUMNS = ("id", "parent_id", "level", "name", "aliases", "polygon_wkt", "lat", "lng", "duty_phone")


@dataclass
class GridIndex:
    rows: dict[int, dict]
    token: bytes | None
    loaded_at: float
    names: list[tuple[str, int]] = field(default_factory=list)  # (place name or alias, grid id), longest first
    shapes: list[tuple[int, object]] = field(default_factory=list)  # (grid id, shapely polygon)

    def __post_init__(self) -> None:
        for row in self.rows.values():
            if row["level"] in PLACE_LEVELS:
                aliases = [a for a in (row["aliases"] or "").split("|") if a]
                self.names += [(name, row["id"]) for name in {row["name"], *aliases} if len(name) >= 2]
                if row["level"] == "grid" and row["polygon_wkt"]:
                    from shapely import wkt  # numpy and GEOS: loaded when a grid has a polygon, not at start-up

                    self.shapes.append((row["id"], wkt.loads(row["polygon_wkt"])))
        self.names.sort(key=lambda item: (-len(item[0]), item[1]))

    def by_text(self, text: str) -> tuple[int | None, str | None]:
        """The grid whose longest name or alias appears in the text (a building counts for its grid)."""
        for name, grid_id in self.names:
            if name in text:
                row = self.rows[grid_id]
                while row["level"] == "building" and row["parent_id"] in self.rows:
                    row = self.rows[row["parent_id"]]
                return row["id"], name
        return None, None

    def grids(self) -> list[dict]:
        return [row for row in self.rows.values() if row["level"] == "grid"]

    def containing(self, lng: float, lat: float) -> int | None:
        if not self.shapes:
            return None
        from shapely.geometry import Point

        point = Point(lng, lat)
        return next((grid_id for grid_id, shape in self.shapes if shape.contains(point)), None)

    def orm(self, session: Session, grid_id: int | None) -> Grid | None:
        """The session's `Grid` for this id, and its ancestors, from the cache: no SQL."""
        if grid_id is None or grid_id not in self.rows:
            return None
        chain, node = [], self.rows.get(grid_id)
        while node is not None:
            chain.append(node)
            node = self.rows.get(node["parent_id"])
        parent = None
        for row in reversed(chain):  # root first: each child holds its parent (the identity map is weak)
            found = session.identity_map.get(session.identity_key(Grid, row["id"]))
            if found is None:
                found = attach_loaded(session, Grid, row)
                set_committed_value(found, "parent", parent)
            parent = found
        return parent


class GridCache(RevisionCache):
    """This runtime's grid index (a runtime component: `current().component(GridCache)`)."""

    token_key = TOKEN_KEY
    refresh = REFRESH_SECONDS


def _cache() -> GridCache:
    return runtime.current().component(GridCache)


def current(session: Session) -> GridIndex:
    def build(token: bytes | None) -> GridIndex:
        table = Grid.__table__
        rows = {row.id: dict(row._mapping) for row in session.execute(select(*(table.c[c] for c in COLUMNS)))}
        return GridIndex(rows, token, time.monotonic())

    return _cache().get(session, build)


def invalidate(shared: bool = True) -> None:
    """Forget the cache here, and (shared) make every other process rebuild its own."""
    _cache().invalidate(shared)


follow_changes(Grid, invalidate)
