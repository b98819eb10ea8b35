"""Database engine and sessions (SQLAlchemy 2.x); SQLite by default, PostgreSQL via settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from bot.core.runtime import current
from settings import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as UTC; SQLite forgets the zone, so it is put back on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def upsert_for(session: Session):
    """The dialect's `insert` with ON CONFLICT support (PostgreSQL and SQLite both have it)."""
    return upsert_for_dialect(session.get_bind().dialect.name)


def upsert_for_dialect(name: str):
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def lease(session: Session, model, due, *, values: dict, order_by: tuple, limit: int, where: tuple = ()) -> list[int]:
    """Lease up to `limit` rows of `model` that are `due` (and `where`), first in `order_by`, with one
    compare-and-set UPDATE that sets `values`; committed, the ids sorted. Two callers never lease the
    same row: the UPDATE checks `due` again on each row it writes."""
    candidates = select(model.id).where(due, *where).order_by(*order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # A CTE runs once (an IN (subquery) may be re-run and lease more than `limit`); SKIP LOCKED
        # lets two callers take different rows instead of queueing behind each other.
        picked = candidates.with_for_update(skip_locked=True).cte("picked")
        chosen = model.id == picked.c.id
    else:
        chosen = model.id.in_(candidates.scalar_subquery())
    ids = session.scalars(update(model).where(chosen, due).values(**values).returning(model.id)).all()
    session.commit()
    return sorted(ids)


def as_loaded(session: Session, model, row):
    """The session's `model` object for a row that a Core statement returned (every column), as a
    query would have loaded it: the object already in the session, refreshed, or a new one attached
    (an ORM-enabled INSERT … RETURNING costs several times the statement itself)."""
    mapping = row._mapping
    return attach_loaded(session, model, {key: mapping[column] for key, column in _columns(model)}, refresh=True)


def attach_loaded(session: Session, model, values: dict, *, refresh: bool = False):
    """The session's `model` object for a row known to be in the database, `values` by attribute
    (every column): the one already in the session (its values set again when `refresh`), else a
    new one attached as a query would have loaded it. Built without its constructor, whose
    attribute events (history for a flush that will never come) cost more than the rest."""
    from sqlalchemy.orm import make_transient_to_detached
    from sqlalchemy.orm.attributes import set_committed_value

    found = session.identity_map.get(session.identity_key(model, values[_primary_key(model)]))
    if found is not None:
        for key, value in values.items() if refresh else ():
            set_committed_value(found, key, value)
        return found
    target = _manager(model).new_instance()
    target.__dict__.update(values)  # loaded state, as the ORM's loading writes it: no events, no history
    make_transient_to_detached(target)
    session.add(target)
    return target


@cache
def _columns(model) -> tuple[tuple[str, Any], ...]:
    from sqlalchemy import inspect

    return tuple((prop.key, prop.columns[0]) for prop in inspect(model).column_attrs)


@cache
def _primary_key(model) -> str:
    from sqlalchemy import inspect

    mapper = inspect(model)
    return mapper.get_property_by_column(mapper.primary_key[0]).key


@cache
def _manager(model):
    from sqlalchemy import inspect

    return inspect(model).class_manager


def insert_ignore(session: Session, model, **values) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: one round trip; None when the row existed."""
    sql = session.connection()  # a Core statement: the session's ORM execution adds only cost here
    return sql.execute(_insert_ignore(sql.dialect.name, model), values).scalar()


def insert_ignore_many(session: Session, model, rows: list[dict], column) -> list:
    """Many rows in one INSERT … ON CONFLICT DO NOTHING RETURNING `column` (SQLAlchemy's
    insertmanyvalues): the values of the rows written, not of those that existed."""
    sql = session.connection()
    return list(sql.execute(_insert_ignore(sql.dialect.name, model, column.key), rows).scalars())


@cache
def _insert_ignore(dialect: str, model, returning: str = "id"):
    """Built once per table: the values come as parameters (building a statement per call costs
    more CPU than its round trip; this runs for every push queued)."""
    table = model.__table__
    return upsert_for_dialect(dialect)(table).on_conflict_do_nothing().returning(table.c[returning])


def build_engine() -> Engine:
    """A new engine for the configured database (the runtime owns it: see bot.core.runtime)."""
    url = get_settings().effective_database_url
    if url.startswith("sqlite"):
        get_settings().data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_savepoint_as_writer)
        return engine
    # A short connect timeout: with the database down, WeChat must still get a quick apology.
    # Enough pooled connections for every thread that holds one at once (the webhook's and the
    # intake's, the scheduler, admin): past the pool, each checkout opened and closed a connection.
    settings = get_settings()
    engine = create_engine(url, pool_size=settings.threads + settings.intake_threads + 4, max_overflow=10,
                           connect_args={"connect_timeout": 2} if url.startswith("postgresql") else {})
    ping_when_idle(engine)
    if url.startswith("postgresql+psycopg"):
        _convert_long_statements_once()
    return engine


def _convert_long_statements_once() -> None:
    """psycopg turns each statement's %(name)s into $1 … and caches the result only for statements
    of at most 50 parameters and 4096 bytes; a new event's INSERT (with its timeline rows and the
    duplicate lookup) has more, and was parsed again with a regular expression on every report. Our
    statements are built once each (a bounded set), so the cache holds them all."""
    from psycopg import _queries

    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, 256)
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 32768)


PING_AFTER_IDLE = 1.0  # seconds a pooled connection may rest before it is pinged on checkout


def ping_when_idle(engine: Engine, after: float = PING_AFTER_IDLE) -> None:
    """Ping a pooled connection on checkout only if it rested `after` seconds or more.

    pool_pre_ping pings on every checkout: a round trip per unit of work, two per report. A
    connection that rested is the one a database restart or an idle timeout may have closed; one
    handed back a moment ago was alive then, and should it have died since, the error invalidates
    the pool, so the next checkout connects afresh."""

    @event.listens_for(engine, "checkin")
    def _rested_from(dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, proxy) -> None:
        since = record.info.pop("checked_in_at", None)
        if since is None or time.monotonic() - since < after:
            return  # just connected, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # the pool discards this connection and checks out another (a fresh one if need be)
            raise DisconnectionError(f"pooled connection found dead after {time.monotonic() - since:.0f} s") \
                from exc


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_savepoint_as_writer(connection, _name) -> None:
    """A SAVEPOINT that opens the transaction begins it as a reader (pysqlite issues BEGIN only
    before a write); the first write must then upgrade, and fails at once with "database is
    locked" if another connection committed since the read: the busy timeout does not apply to
    a stale snapshot. BEGIN IMMEDIATE takes the write lock first, waiting its turn."""
    raw = connection.connection.dbapi_connection
    if not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


# The current runtime's engine and sessions (thin accessors, so call sites need not carry a runtime).
def get_engine() -> Engine:
    return current().engine


def session_factory() -> sessionmaker[Session]:
    return current().sessions


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
