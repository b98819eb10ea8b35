"""Event numbers: consecutive within a day, from 0001 each day, unique across processes; on
PostgreSQL taken from a SEQUENCE, so a report holding its number locks nothing the next one needs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy import event as sa_event

from bot.core import db
from bot.domain.models import DailyCounter, NumberBase
from bot.domain.numbering import CONTINUE_COUNTERS, SEQUENCE, next_number
from bot.domain.vocabulary import day_key, local_now
from bot.events import intake
from settings import get_settings
from tests.support.chat import NUMBER
from tests.support.sql import statements

ON_SQLITE = get_settings().effective_database_url.startswith("sqlite")
one_writer = pytest.mark.skipif(ON_SQLITE, reason="SQLite has one writer: a second transaction waits by design")
sequence_only = pytest.mark.skipif(ON_SQLITE, reason="SQLite counts numbers in daily_counter, without a SEQUENCE")


def _today() -> str:
    return day_key(local_now())


def test_a_days_numbers_are_consecutive_and_the_next_day_starts_again(clean):
    tomorrow = local_now() + timedelta(days=1)
    with db.session_scope() as session:
        first, second = next_number(session), next_number(session)
        other_day = next_number(session, tomorrow)
        third = next_number(session)
    assert (first, second) == (f"{_today()}-0001", f"{_today()}-0002")
    assert other_day == f"{day_key(tomorrow)}-0001"
    assert third.startswith(_today()) and third > second  # on PostgreSQL one SEQUENCE serves both days: a gap


def test_numbers_taken_at_once_in_many_threads_are_all_different(clean):
    taken, errors = [], []

    def take() -> None:
        try:
            for _ in range(10):
                with db.session_scope() as session:
                    taken.append(next_number(session))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(taken) == [f"{_today()}-{n:04d}" for n in range(1, 61)]


@one_writer
def test_a_report_holding_its_number_does_not_make_the_next_one_wait(clean):
    """A counter row stays locked until its report commits: the next report waited for that (or the
    number took a connection and a commit of its own). A SEQUENCE value needs neither."""
    with db.session_scope() as session:
        assert next_number(session).endswith("-0001")  # the day's first writes its base, once
    checkouts = []
    listener = lambda *args: checkouts.append(1)  # noqa: E731
    with db.session_factory()() as holding:
        holding.connection()
        sa_event.listen(db.get_engine(), "checkout", listener)
        try:
            held = next_number(holding)  # its transaction stays open
        finally:
            sa_event.remove(db.get_engine(), "checkout", listener)
        assert checkouts == []  # on the report's own connection, in its transaction
        with db.session_factory()() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            following = next_number(other)
            other.commit()
        holding.commit()
    assert held.endswith("-0002") and following.endswith("-0003")
    with db.session_factory()() as session:
        assert session.scalar(select(DailyCounter.value)) is None  # no counter row on PostgreSQL


@sequence_only
def test_values_below_a_days_base_are_taken_again_never_numbered_zero(clean):
    """Another process's clock turned the day first and wrote a base ahead of this sequence value."""
    with db.session_scope() as session:
        ahead = session.execute(text(f"SELECT last_value FROM {SEQUENCE}")).scalar_one() + 3
        session.add(NumberBase(key=_today(), base=ahead))
    with db.session_scope() as session:
        assert next_number(session) == f"{_today()}-0001"
        assert next_number(session) == f"{_today()}-0002"


@sequence_only
def test_an_upgraded_database_continues_the_days_it_counted(clean):
    """Migration 0011 (and bench/generate.py) carry daily_counter over: today's 41st is followed by the 42nd."""
    with db.session_scope() as session:
        session.execute(delete(NumberBase))
        session.add(DailyCounter(key=_today(), value=41))
    with db.session_scope() as session:
        session.execute(text(CONTINUE_COUNTERS))
    with db.session_scope() as session:
        assert next_number(session) == f"{_today()}-0042"


@sequence_only
def test_a_report_takes_its_number_in_the_residents_upsert(wx, clean):
    """Issue 18: a first report's number rides in the upsert that touches its resident (no SELECT of
    its own), and the day's first number writes the base."""
    with db.session_scope() as session:
        session.execute(delete(NumberBase))
    with statements(whole=True) as taken:
        first = wx.text("o-seq-1", "幸福小区3栋楼道灯坏了，晚上黑漆漆的")
    assert NUMBER.search(first.text).group(0) == f"{_today()}-0001"
    assert not [s for s in taken if s.lstrip().upper().startswith("SELECT NEXTVAL")], taken
    second = wx.text("o-seq-2", "幸福小区5栋门口垃圾没人清理，味道很大")
    assert NUMBER.search(second.text).group(0) == f"{_today()}-0002"


@sequence_only
def test_a_base_written_ahead_is_stepped_over_in_the_residents_upsert(clean):
    """Another process's clock turned the day first and wrote a base ahead of this sequence value."""
    with db.session_scope() as session:
        ahead = session.execute(text(f"SELECT last_value FROM {SEQUENCE}")).scalar_one() + 3
        session.add(NumberBase(key=_today(), base=ahead))
    with db.session_factory()() as session:
        intake.touch_later(session, "o-seq-ahead")
        person, number = intake.reporter(session, "o-seq-ahead", None, numbered=True)
        assert person.openid == "o-seq-ahead" and number == f"{_today()}-0001"
        assert next_number(session) == f"{_today()}-0002"
