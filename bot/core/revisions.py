"""Per-process caches of small tables that every message reads (the grid tree, who is a worker),
kept honest by a revision token in the shared store.

A cache is rebuilt when its table changes in this process (a flush listener), when another process
changed it (the token, replaced when such a change is committed; a webhook delivery reads every
token with its claim, see `store.read_ahead`), and at least every `refresh` seconds (a change from
another process while running on the embedded store, which no other process shares).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.core.store import get_store, read_ahead, shared_value


class RevisionCache:
    """One runtime's cached value of a table (a runtime component); subclasses name `token_key`."""

    token_key: str
    refresh = 30.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: Any = None  # has .token and .loaded_at
        self.local_changes = 0  # bumped by the flush listener; a rebuild started before a change is not trusted

    def get(self, session: Session, build: Callable[[bytes | None], Any]) -> Any:
        """The cached value while its token holds, else `build(token)` (the new value, cached)."""
        token = shared_value(session, self.token_key)
        cached = self.index
        if cached is not None and cached.token == token and time.monotonic() - cached.loaded_at < self.refresh:
            return cached
        with self.lock:
            seen = self.local_changes
            if token is None:  # first process after a store flush or restart: name this revision
                store = get_store()
                store.r.set(self.token_key, uuid.uuid4().hex, nx=True)
                token = store.r.get(self.token_key)
            index = build(token)
            if seen == self.local_changes:
                self.index = index
            return index

    def invalidate(self, shared: bool = True) -> None:
        """Forget the value here, and (shared) make every other process rebuild its own."""
        self.index = None
        self.local_changes += 1
        if shared:
            get_store().r.set(self.token_key, uuid.uuid4().hex)


def token(key: str) -> str:
    """A revision token's key, read with every webhook delivery's claim."""
    return read_ahead(key)


def follow_changes(model: type, invalidate: Callable[[bool], None]) -> None:
    """`invalidate(False)` when a flush here changes `model` rows (this process at once), then
    `invalidate(True)` when that is committed (the others), `invalidate(False)` after a rollback."""
    flag = f"changed:{model.__name__}"

    @event.listens_for(Session, "after_flush")
    def _changed(session: Session, _context) -> None:
        if any(isinstance(obj, model) for obj in (*session.new, *session.dirty, *session.deleted)):
            session.info[flag] = True
            invalidate(False)

    @event.listens_for(Session, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop(flag, False):
            invalidate(True)

    @event.listens_for(Session, "after_rollback")
    def _rolled_back(session: Session) -> None:
        if session.info.pop(flag, False):
            invalidate(False)
