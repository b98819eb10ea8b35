"""The grid tree, cached per runtime (one a process): every incoming message is matched against every place name,
and loading hundreds of grids per message would cost more than the rest of a report.

The cache is rebuilt when a grid changes in this process (a flush listener), when another process
changed one (a revision token in the shared store, replaced on every grid change), and at least
every REFRESH_SECONDS (a grid import from another process while running on the embedded store).
ORM `Grid` objects are handed out by merging the cached rows into the caller's session without SQL,
so `grid.parent`, `full_name` and `ancestor()` keep working as usual.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import event, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bot.core import runtime
from bot.core.store import get_store
from bot.domain.models import Grid

REFRESH_SECONDS = 30.0
TOKEN_KEY = "wl:grids:revision"
PLACE_LEVELS = ("community", "grid", "building")
COLUMNS = ("id", "parent_id", "level", "name", "aliases", "polygon_wkt", "lat", "lng", "duty_phone")


@dataclass
class GridIndex:
    rows: dict[int, dict]
    token: str | None
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
                copy = Grid(**row)
                make_transient_to_detached(copy)
                found = session.merge(copy, load=False)
                set_committed_value(found, "parent", parent)
            parent = found
        return parent


class GridCache:
    """This runtime's grid index (a runtime component: `current().component(GridCache)`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: GridIndex | None = None
        self.local_changes = 0  # bumped by the flush listener; a rebuild started before a change is not trusted


def _cache() -> GridCache:
    return runtime.current().component(GridCache)


def current(session: Session) -> GridIndex:
    cache, store = _cache(), get_store()
    token = store.r.get(TOKEN_KEY)
    cached = cache.index
    if cached is not None and cached.token == token and time.monotonic() - cached.loaded_at < REFRESH_SECONDS:
        return cached
    with cache.lock:
        seen = cache.local_changes
        if token is None:  # first process after a store flush or restart: name this revision
            store.r.set(TOKEN_KEY, uuid.uuid4().hex, nx=True)
            token = store.r.get(TOKEN_KEY)
        table = Grid.__table__
        rows = {row.id: dict(row._mapping) for row in session.execute(select(*(table.c[c] for c in COLUMNS)))}
        index = GridIndex(rows, token, time.monotonic())
        if seen == cache.local_changes:
            cache.index = index
        return index


def invalidate(shared: bool = True) -> None:
    """Forget the cache here, and (shared) make every other process rebuild its own."""
    cache = _cache()
    cache.index = None
    cache.local_changes += 1
    if shared:
        get_store().r.set(TOKEN_KEY, uuid.uuid4().hex)


@event.listens_for(Session, "after_flush")
def _grids_changed(session: Session, _context) -> None:
    if any(isinstance(obj, Grid) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info["grids_changed"] = True
        invalidate(shared=False)  # this process at once; the others when the change is committed


@event.listens_for(Session, "after_commit")
def _grids_committed(session: Session) -> None:
    if session.info.pop("grids_changed", False):
        invalidate()


@event.listens_for(Session, "after_rollback")
def _grids_rolled_back(session: Session) -> None:
    if session.info.pop("grids_changed", False):
        invalidate(shared=False)
