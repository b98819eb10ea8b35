"""The SQL statements a test sees its code send, over the real engine."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from sqlalchemy import event as sa_event

from bot.core import db


@contextmanager
def statements(this_thread: bool = False, whole: bool = False):
    """The SQL statements sent meanwhile by the service's request threads (or by this test's own
    thread): its scheduler runs the outbox and supervision jobs on the same engine at the same time.
    Each as its verb (SELECT, INSERT…), or `whole`."""
    seen: list[str] = []
    me = threading.current_thread()

    def record(conn, cursor, statement, params, context, executemany):
        current = threading.current_thread()
        if current is me if this_thread else current.name.startswith("AnyIO worker"):
            seen.append(statement if whole else statement.split(None, 1)[0].upper())

    engine = db.get_engine()
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
