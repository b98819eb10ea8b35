"""Event and order numbers: `WL` + local date + `-` + a four-digit daily sequence.

On PostgreSQL a number is a value of one database SEQUENCE minus its day's base (`number_base`,
written once when the day's first number is taken). `nextval` locks nothing and needs no commit of
its own, so it is taken inside the report's transaction. A counter row bumped per number (as on
SQLite) is one row that every report locks: each waited for the one before it to commit and flush
its WAL, which capped intake, stored-first answers included, at one commit after another.

A number whose transaction rolls back is a gap, as with any SEQUENCE. SQLite has one writer anyway:
there the day's row in `daily_counter` is bumped in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import BigInteger, bindparam, literal_column, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.core.db import upsert_for_dialect
from bot.domain.models import DailyCounter, NumberBase
from bot.domain.vocabulary import day_key, format_number, local_now

SEQUENCE = "event_number_seq"
_TAKE = text(f"SELECT nextval('{SEQUENCE}') AS value, (SELECT base FROM number_base WHERE key = :key) AS base")
_TAKE_MANY = text(f"SELECT nextval('{SEQUENCE}') AS value, (SELECT base FROM number_base WHERE key = :key) AS base "
                  "FROM generate_series(1, :count)")
_SET_BASE = text("INSERT INTO number_base (key, base) VALUES (:key, :base) ON CONFLICT (key) DO NOTHING")
_BASE = text("SELECT base FROM number_base WHERE key = :key")
# Migration 0011 and bench/generate.py: numbers continue after the counters' values (the next
# nextval is s + 1, so number = s + 1 - (s - value) = value + 1).
CONTINUE_COUNTERS = (
    "INSERT INTO number_base (key, base) SELECT key, s.v - value FROM daily_counter, "
    f"(SELECT nextval('{SEQUENCE}') AS v) s ON CONFLICT (key) DO UPDATE SET base = EXCLUDED.base"
)


def next_number(session: Session, now: datetime | None = None) -> str:
    """The next number of the day (`now`'s local day), safe across processes."""
    key = today_key(now)
    if in_sequence(session):
        return format_number(key, _from_sequence(session, key))
    dialect = session.get_bind().dialect.name
    return format_number(key, session.execute(_counter_statement(dialect), {"key": key}).scalar_one())


def next_numbers(session: Session, count: int, now: datetime | None = None) -> list[str]:
    """The day's next `count` numbers: one statement on PostgreSQL (messages stored first together)."""
    key = today_key(now)
    if count <= 0:
        return []
    if not in_sequence(session):
        return [next_number(session, now) for _ in range(count)]
    rows = session.execute(_TAKE_MANY, {"key": key, "count": count}).all()
    sequences = [_over_base(session, key, value, base) for value, base in rows]
    return [format_number(key, s if s is not None else _from_sequence(session, key)) for s in sequences]


def _from_sequence(session: Session, key: str) -> int:
    """Values taken before the day's base was written (by a process whose clock turned the day a
    moment later than another's) are below it: taken again, never numbered 0 or less."""
    while True:
        value, base = session.execute(_TAKE, {"key": key}).one()
        if (sequence := _over_base(session, key, value, base)) is not None:
            return sequence


def _over_base(session: Session, key: str, value: int, base: int | None) -> int | None:
    if base is None:
        base = _set_base(session, key, value - 1)
    return value - base if value > base else None


def in_sequence(session: Session) -> bool:
    """Numbers come from the SEQUENCE (PostgreSQL), not from a counter row."""
    return session.get_bind().dialect.name == "postgresql"


def today_key(now: datetime | None = None) -> str:
    return day_key(local_now(now))


def taken_alongside() -> tuple:
    """The columns that take the day's next number in another statement's RETURNING (a report's
    upsert of its resident: one round trip fewer), with the day's key as the bind parameter
    `number_key`; `taken_from` makes the number of them. Only where `in_sequence`."""
    table = NumberBase.__table__
    base = select(table.c.base).where(table.c.key == bindparam("number_key", type_=table.c.key.type))
    return (literal_column(f"nextval('{SEQUENCE}')", BigInteger).label("number_value"),
            base.scalar_subquery().label("number_base"))


def taken_from(session: Session, key: str, row) -> str:
    """The number of a row that carried `taken_alongside()`'s columns (a value below the day's
    base is taken again, as in next_number)."""
    sequence = _over_base(session, key, row.number_value, row.number_base)
    return format_number(key, sequence if sequence is not None else _from_sequence(session, key))


def _set_base(session: Session, key: str, base: int) -> int:
    """The day's base, written by the first number of the day and committed at once on a connection
    of its own (the caller's transaction may run on; another process's first number of the same day
    must not wait for it). Whoever wrote first decides it."""
    with session.get_bind().connect() as own:
        conn: Connection = own.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(_SET_BASE, {"key": key, "base": base})
        return conn.execute(_BASE, {"key": key}).scalar_one()


@cache
def _counter_statement(dialect: str):
    """Built once per dialect: the day's key is the parameter (this runs for every report)."""
    table = DailyCounter.__table__
    return (upsert_for_dialect(dialect)(table).values(key=bindparam("key", type_=table.c.key.type), value=1)
            .on_conflict_do_update(index_elements=[table.c.key], set_={"value": table.c.value + 1})
            .returning(table.c.value))
