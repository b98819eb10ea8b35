"""Who is who: the role of every bound OpenID (grid worker, volunteer; anyone else is a resident)
and each grid's active grid worker, cached per runtime like the grid tree, because every incoming
message asks the first and every report the second (bot/core/revisions.py: rebuilt when a worker
is added, bound, unbound, moved or changes role here, when another process commits such a change,
and at least every REFRESH_SECONDS). Workers are handed out as ORM objects without SQL, merged
into the caller's session from the cached row (as bot/places/gridindex.py does for grids).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, make_transient_to_detached

from bot.core import revisions, runtime
from bot.core.revisions import RevisionCache, follow_changes
from bot.domain.models import Worker

REFRESH_SECONDS = 30.0
TOKEN_KEY = revisions.token("wl:workers:revision")
RESIDENT = "resident"


COLUMNS = ("id", "name", "phone", "role", "grid_id", "openid", "skills", "active")


@dataclass
class RoleIndex:
    roles: dict[str, str]  # openid → role, for bound workers and volunteers
    token: bytes | None
    loaded_at: float
    grid_workers: dict[int, dict] = field(default_factory=dict)  # grid id → its first active grid worker's row


class RoleCache(RevisionCache):
    """This runtime's role index (a runtime component: `current().component(RoleCache)`)."""

    token_key = TOKEN_KEY
    refresh = REFRESH_SECONDS


def _cache() -> RoleCache:
    return runtime.current().component(RoleCache)


def role_of(session: Session, openid: str) -> str:
    """`grid_worker`, `volunteer`, … for a bound OpenID, else `resident`."""

    return _index(session).roles.get(openid) or RESIDENT


def grid_worker_of(session: Session, grid_id: int) -> Worker | None:
    """The grid's active grid worker (the first by id), the session's ORM object, without SQL."""
    row = _index(session).grid_workers.get(grid_id)
    if row is None:
        return None
    found = session.identity_map.get(session.identity_key(Worker, row["id"]))
    if found is None:
        found = Worker(**row)
        make_transient_to_detached(found)
        session.add(found)  # detached and not in this session: attached as is (a merge copies it)
    return found


def _index(session: Session) -> RoleIndex:
    def build(token: bytes | None) -> RoleIndex:
        table = Worker.__table__
        index = RoleIndex({}, token, time.monotonic())
        for row in session.execute(select(*(table.c[c] for c in COLUMNS)).order_by(table.c.id)):
            if row.openid is not None:
                index.roles[row.openid] = row.role
            if row.role == "grid_worker" and row.active and row.grid_id is not None:
                index.grid_workers.setdefault(row.grid_id, dict(row._mapping))
        return index

    return _cache().get(session, build)


def invalidate(shared: bool = True) -> None:
    """Forget the cache here, and (shared) make every other process rebuild its own."""
    _cache().invalidate(shared)


follow_changes(Worker, invalidate)
