"""Event and order numbers: `WL` + local date + `-` + a four-digit daily sequence."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.core.db import upsert_for_dialect
from bot.domain.models import DailyCounter
from bot.domain.vocabulary import day_key, format_number, local_now


def next_number(session: Session, now: datetime | None = None, *, inline: bool = False) -> str:
    """Atomically take the next number of the day (one upsert … RETURNING: safe across processes,
    and the first number of a day needs no second try).

    On PostgreSQL the counter is bumped outside the report's transaction, as one autocommitted
    statement: inside it the row would stay locked until the report commits, and every concurrent
    report would queue behind it. A report that then rolls back leaves a gap, as a SEQUENCE would.
    SQLite has a single writer anyway, and a second connection would wait on the report's own lock.
    `inline`: in the caller's transaction anyway, for one that commits right after (a message stored
    first): the row is locked for one INSERT, and a second connection is saved.
    """
    bind = session.get_bind()
    statement = _take_statement(bind.dialect.name)
    if bind.dialect.name == "postgresql" and not inline:  # a plain connection: cheaper than an ORM session
        with bind.connect() as own:
            return _take(own.execution_options(isolation_level="AUTOCOMMIT"), statement, now)
    return _take(session, statement, now)


@cache
def _take_statement(dialect: str):
    """Built once per dialect: the day's key is the parameter (this runs for every report)."""
    table = DailyCounter.__table__
    return (upsert_for_dialect(dialect)(table).values(key=bindparam("key", type_=table.c.key.type), value=1)
            .on_conflict_do_update(index_elements=[table.c.key], set_={"value": table.c.value + 1})
            .returning(table.c.value))


def _take(executor: Session | Connection, statement, now: datetime | None) -> str:
    key = day_key(local_now(now))
    return format_number(key, executor.execute(statement, {"key": key}).scalar_one())
