"""The one state machine (bot/domain/states.py): every transition a compare-and-set that writes its
timeline row in the same transaction, for events and service orders alike; and the models match a
migrated database exactly (an autogenerate would propose nothing)."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from admin.auth import add_user
from bot.core import db
from bot.core.db import utcnow
from bot.domain import deadlines
from bot.domain.lifecycle import EVENTS, transition
from bot.domain.models import Event, Order, OrderEntry, TimelineEntry
from bot.domain.numbering import next_number
from bot.domain.states import ChangedFirst, IllegalTransition
from bot.events.intake import Report, report
from bot.orders import lifecycle as order_lifecycle
from bot.orders.lifecycle import ORDERS, Taken
from tests.support.admin import login
from tests.support.chat import bind, number_in

RESIDENT, WORKER = "o-race-resident", "o-wang-fang"


def new_event(session, text: str = "东亭小区路灯不亮") -> Event:
    return report(session, Report(openid="o-state-machine", text=text)).event


def new_order(session) -> Order:
    now = utcnow()
    order = Order(number=next_number(session), service="磨刀", status="requested", created_at=now, updated_at=now)
    session.add(order)
    session.flush()
    order_lifecycle.record_order(session, order, "磨刀")
    session.flush()
    return order


def timeline_rows(model, owner, thing_id: int, action: str | None = None) -> int:
    with db.session_factory()() as session:
        query = select(func.count()).select_from(model).where(owner == thing_id)
        if action:
            query = query.where(model.action == action)
        return session.scalar(query)


def stored_status(model, thing_id: int) -> str:
    with db.session_factory()() as session:
        return session.scalar(select(model.status).where(model.id == thing_id))


# -- the engine --

def test_transition_updates_the_row_and_the_object_the_caller_holds(clean):
    with db.session_scope() as session:
        event = new_event(session)
        assert event.status == "assigned"
        entry = transition(session, event, "accept", actor="worker", actor_name="王芳", note="马上到")
        # The object says what the row says, without a reload: status, the round's 接单 moment, the clock.
        assert (event.status, event.accepted_at, event.updated_at) == ("accepted", entry.at, entry.at)
        assert event.timeline[-1] is entry and (entry.from_status, entry.to_status) == ("assigned", "accepted")
        expected_check = event.next_check_at
        deadlines.refresh(event)
        assert event.next_check_at == expected_check
        event_id = event.id
    with db.session_factory()() as session:
        stored = session.get(Event, event_id)
        assert (stored.status, stored.accepted_at, stored.next_check_at) == ("accepted", entry.at, expected_check)
        assert [t.action for t in stored.timeline] == ["report", "assign", "accept"]


@pytest.mark.parametrize("noun", ["event", "order"])
def test_illegal_transition_changes_nothing(clean, noun):
    with db.session_scope() as session:
        thing = new_event(session) if noun == "event" else new_order(session)
        machine, model = (EVENTS, Event) if noun == "event" else (ORDERS, Order)
        machine.apply(session, thing, "cancel", actor="resident")
        thing_id, before_updated = thing.id, thing.updated_at
    entries, owner = (TimelineEntry, TimelineEntry.event_id) if noun == "event" else (OrderEntry, OrderEntry.order_id)
    rows_before = timeline_rows(entries, owner, thing_id)
    with db.session_scope() as session:
        thing = session.get(model, thing_id)
        with pytest.raises(IllegalTransition) as refused:
            machine.apply(session, thing, "complete", actor="worker")
        assert not isinstance(refused.value, ChangedFirst)  # refused by the table, not by a race
        assert (refused.value.status, refused.value.action) == ("cancelled", "complete")
        assert "已撤销" in str(refused.value) or "已取消" in str(refused.value)
        assert thing.status == "cancelled" and thing.updated_at == before_updated
    assert stored_status(model, thing_id) == "cancelled"
    assert timeline_rows(entries, owner, thing_id) == rows_before


def test_a_stale_event_loses_the_compare_and_set(clean):
    with db.session_scope() as session:
        event_id = new_event(session).id
    slow = db.session_factory()()
    try:
        stale = slow.get(Event, event_id)
        assert stale.status == "assigned"
        with db.session_scope() as fast:  # someone else accepts first, and commits
            transition(fast, fast.get(Event, event_id), "accept", actor="worker", actor_name="王芳")
        with pytest.raises(ChangedFirst) as lost:
            transition(slow, stale, "accept", actor="worker", actor_name="赵磊")
        assert (lost.value.expected, lost.value.status) == ("assigned", "accepted")
        assert "已被他人先行处理" in str(lost.value)
        assert stale.status == "accepted"  # the loser's object now shows what the winner left
        slow.commit()
    finally:
        slow.close()
    assert timeline_rows(TimelineEntry, TimelineEntry.event_id, event_id, "accept") == 1
    with db.session_factory()() as session:
        assert [t.actor_name for t in session.get(Event, event_id).timeline if t.action == "accept"] == ["王芳"]


def test_a_stale_order_loses_the_grab_as_taken(clean):
    with db.session_scope() as session:
        order = new_order(session)
        ORDERS.apply(session, order, "offer", actor="system")
        order_id = order.id
    slow = db.session_factory()()
    try:
        stale = slow.get(Order, order_id)
        with db.session_scope() as fast:
            order_lifecycle.transition(fast, fast.get(Order, order_id), "accept", actor="volunteer")
        with pytest.raises(Taken) as lost:
            order_lifecycle.transition(slow, stale, "accept", actor="volunteer")
        assert isinstance(lost.value, ChangedFirst) and "手慢了" in str(lost.value)
        assert stale.status == "accepted"
    finally:
        slow.close()
    assert timeline_rows(OrderEntry, OrderEntry.order_id, order_id, "accept") == 1


def test_the_timeline_row_and_the_change_roll_back_together(clean):
    with db.session_scope() as session:
        event_id = new_event(session).id
    # A rollback after the transition takes back both the status and its row.
    session = db.session_factory()()
    try:
        transition(session, session.get(Event, event_id), "accept", actor="worker")
        session.rollback()
    finally:
        session.close()
    assert stored_status(Event, event_id) == "assigned"
    assert timeline_rows(TimelineEntry, TimelineEntry.event_id, event_id, "accept") == 0
    # The status UPDATE runs first; when its timeline row cannot be written, the UPDATE goes too.
    session = db.session_factory()()
    try:
        with pytest.raises(IntegrityError):
            transition(session, session.get(Event, event_id), "accept", actor=None)  # actor is NOT NULL
        session.rollback()
    finally:
        session.close()
    assert stored_status(Event, event_id) == "assigned"
    assert timeline_rows(TimelineEntry, TimelineEntry.event_id, event_id) == 2  # report, assign


def test_one_error_class_for_both_nouns():
    assert issubclass(Taken, ChangedFirst) and issubclass(ChangedFirst, IllegalTransition)
    assert EVENTS.states_for("close") == ("completed",)
    assert set(ORDERS.states_for("cancel")) == set(Order.OPEN_STATES)
    assert set(EVENTS.states_for("merge")) == set(Event.OPEN_STATES)


# -- two dispatchers close one event at the same moment, over the real HTTP API --

@pytest.fixture
def completed_event(wx, clean) -> str:
    with db.session_scope() as session:
        add_user(session, "dispatcher1", "passw0rd!", "dispatcher")
        add_user(session, "dispatcher2", "passw0rd!", "dispatcher")
    assert "绑定成功" in bind(wx, WORKER, "13800000003")  # 王芳, 幸福家园网格
    wx.text(RESIDENT, "你好")
    number = number_in(wx.text(RESIDENT, "幸福小区3栋楼道灯坏了，晚上黑漆漆的").text)
    assert "已接单" in wx.text(WORKER, f"接单 {number}").text
    assert "已办结" in wx.text(WORKER, f"办结 {number} 已更换灯泡").text
    with db.session_factory()() as session:
        assert session.scalar(select(Event.status).where(Event.number == number)) == "completed"
    return number


def test_two_dispatchers_close_at_once_exactly_one_wins(completed_event, clean):
    number = completed_event
    clients = [login(clean, "dispatcher1"), login(clean, "dispatcher2")]
    barrier = threading.Barrier(len(clients))
    answers: dict[str, tuple[int, dict]] = {}

    def close(client, csrf: str, name: str) -> None:
        barrier.wait(timeout=10)
        response = client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf},
                               json={"note": f"{name} 核查属实"})
        answers[name] = (response.status_code, response.json())

    threads = [threading.Thread(target=close, args=(client, csrf, f"d{i}")) for i, (client, csrf) in
               enumerate(clients)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for client, _ in clients:
            client.close()
    codes = sorted(code for code, _ in answers.values())
    assert codes == [200, 409], answers
    winner = next(name for name, (code, _) in answers.items() if code == 200)
    refusal = next(body for code, body in answers.values() if code == 409)
    assert answers[winner][1]["status"] == "closed"
    assert "已结案" in refusal["detail"] and "核查结案" in refusal["detail"], refusal
    with db.session_factory()() as session:
        event = session.scalar(select(Event).where(Event.number == number))
        assert event.status == "closed" and event.closed_at is not None
        closes = [t for t in event.timeline if t.action == "close"]
    assert len(closes) == 1 and closes[0].note == f"{winner} 核查属实"


# -- migrations stay valid --

def test_models_match_the_migrated_database(env):
    """An Alembic autogenerate against the freshly migrated database (SQLite or PostgreSQL, whichever this
    run uses) proposes nothing: every index, type and constraint of the migrations is on the models."""
    with db.get_engine().connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.Base.metadata) == []
        if conn.dialect.name == "postgresql":  # Alembic does not compare INCLUDE lists: check them here
            covering = {(table.name, index.name): index.dialect_options["postgresql"]["include"]
                        for table in db.Base.metadata.sorted_tables for index in table.indexes
                        if index.dialect_options["postgresql"]["include"]}
            assert set(covering) == {("event", "ix_event_rates"), ("rating", "ix_rating_event_value")}
            found = {(table, index["name"]): index["dialect_options"].get("postgresql_include", [])
                     for table in ("event", "rating") for index in inspect(conn).get_indexes(table)}
            assert {key: sorted(columns) for key, columns in covering.items()} == \
                {key: sorted(found[key]) for key in covering}
