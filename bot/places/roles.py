"""Who writes: the role of every bound OpenID (grid worker, volunteer; anyone else is a resident),
cached per runtime like the grid tree, because every incoming message asks (bot/core/revisions.py:
rebuilt when a worker is bound, unbound or changes role here, when another process commits such a
change, and at least every REFRESH_SECONDS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import revisions, runtime
from bot.core.revisions import RevisionCache, follow_changes
from bot.domain.models import Worker

REFRESH_SECONDS = 30.0
TOKEN_KEY = revisions.token("wl:workers:revision")
RESIDENT = "resident"


@dataclass
class RoleIndex:
    roles: dict[str, str]  # openid → role, for bound workers and volunteers
    token: bytes | None
    loaded_at: float


class RoleCache(RevisionCache):
    """This runtime's role index (a runtime component: `current().component(RoleCache)`)."""

    token_key = TOKEN_KEY
    refresh = REFRESH_SECONDS


def _cache() -> RoleCache:
    return runtime.current().component(RoleCache)


def role_of(session: Session, openid: str) -> str:
    """`grid_worker`, `volunteer`, … for a bound OpenID, else `resident`."""

    def build(token: bytes | None) -> RoleIndex:
        rows = session.execute(select(Worker.openid, Worker.role).where(Worker.openid.is_not(None)))
        return RoleIndex({o: role for o, role in rows}, token, time.monotonic())

    return _cache().get(session, build).roles.get(openid) or RESIDENT


def invalidate(shared: bool = True) -> None:
    """Forget the cache here, and (shared) make every other process rebuild its own."""
    _cache().invalidate(shared)


follow_changes(Worker, invalidate)
