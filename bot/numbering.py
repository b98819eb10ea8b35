"""Event and order numbers: `WL` + local date + `-` + a four-digit daily sequence."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import DailyCounter
from settings import get_settings

PREFIX = "WL"


def local_now(now: datetime | None = None) -> datetime:
    tz = ZoneInfo(get_settings().timezone)
    return (now or datetime.now(tz)).astimezone(tz)


def next_number(session: Session, now: datetime | None = None) -> str:
    """Atomically take the next number of the day (row-level UPDATE … RETURNING, safe across processes).

    On PostgreSQL the counter is bumped in its own short transaction: inside the report's
    transaction the row would stay locked until that commits, and every concurrent report would
    queue behind it. A report that then rolls back leaves a gap, as a SEQUENCE would. SQLite has a
    single writer anyway, and a second connection would wait on the report's own write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        with Session(session.get_bind()) as own:
            number = _take(own, now)
            own.commit()
            return number
    return _take(session, now)


def _take(session: Session, now: datetime | None) -> str:
    day = local_now(now).strftime("%Y%m%d")
    key = f"{PREFIX}{day}"
    for _ in range(5):
        value = session.execute(
            update(DailyCounter)
            .where(DailyCounter.key == key)
            .values(value=DailyCounter.value + 1)
            .returning(DailyCounter.value)
        ).scalar()
        if value is not None:
            return f"{key}-{value:04d}"
        try:
            with session.begin_nested():
                session.add(DailyCounter(key=key, value=1))
            return f"{key}-0001"
        except IntegrityError:
            continue  # another process created today's row first; increment it
    raise RuntimeError("could not allocate an event number")
