"""The transition table: legal moves write one timeline row; illegal ones raise and change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.core import db
from bot.domain.lifecycle import transition
from bot.domain.models import Event, TimelineEntry
from bot.domain.numbering import next_number
from bot.domain.states import IllegalTransition
from bot.events.intake import Report, report


def new_event(session, text="东亭小区路灯不亮") -> Event:
    return report(session, Report(openid="o-lifecycle", text=text)).event


def test_happy_path_writes_one_row_per_transition(clean):
    with db.session_scope() as session:
        event = new_event(session)
        assert event.status == "assigned"
        for action in ("accept", "progress", "complete", "close", "rate"):
            transition(session, event, action, actor="worker", note=action)
        assert event.status == "rated"
        rows = [(t.action, t.from_status, t.to_status) for t in event.timeline]
    assert rows == [
        ("report", None, "reported"), ("assign", "reported", "assigned"), ("accept", "assigned", "accepted"),
        ("progress", "accepted", "accepted"), ("complete", "accepted", "completed"),
        ("close", "completed", "closed"), ("rate", "closed", "rated"),
    ]


@pytest.mark.parametrize("action", ["complete", "close", "rate", "accept"])
def test_illegal_transition_raises_and_changes_nothing(clean, action):
    with db.session_scope() as session:
        event = new_event(session)
        transition(session, event, "cancel", actor="resident")
        number = event.number
    with db.session_scope() as session:
        event = session.scalar(select(Event).where(Event.number == number))
        before = session.scalar(select(func.count()).select_from(TimelineEntry))
        with pytest.raises(IllegalTransition) as info:
            transition(session, event, action, actor="worker")
        assert "已撤销" in str(info.value)
        assert event.status == "cancelled"
        assert session.scalar(select(func.count()).select_from(TimelineEntry)) == before


def test_event_numbers_are_daily_sequences(clean):
    with db.session_scope() as session:
        first, second = next_number(session), next_number(session)
    assert first[:2] == "WL" and len(first) == len("WL20261123-0042")
    assert int(second[-4:]) == int(first[-4:]) + 1 and first[:10] == second[:10]
