"""一事一评: one rating per event and resident, after 结案. 不满意 reopens the event once (重办)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.lifecycle import transition
from bot.domain.models import Event, Follower, Rating, Resident
from bot.domain.vocabulary import RATING_LABELS
from bot.events.intake import resident
from bot.notify import notices
from bot.timelimits import rounds

RATING_WINDOW = timedelta(days=7)


class AlreadyRated(ValueError):
    pass


def _mine(openid: str):
    followed = select(Follower.event_id).join(Resident, Follower.resident_id == Resident.id) \
        .where(Resident.openid == openid)
    reporter = select(Resident.id).where(Resident.openid == openid).scalar_subquery()
    return or_(Event.reporter_id == reporter, Event.id.in_(followed))


def rateable(session: Session, openid: str, number: str | None = None) -> Event | None:
    """The resident's event awaiting their rating: the numbered one, or the most recently closed."""
    query = select(Event).where(_mine(openid), Event.status.in_(Event.CLOSED_STATES))
    if number:
        query = query.where(Event.number == number.upper())
    person = resident(session, openid)
    for event in session.scalars(query.order_by(Event.closed_at.desc().nulls_last(), Event.id.desc()).limit(20)):
        done = session.scalar(select(Rating.id).where(Rating.event_id == event.id, Rating.resident_id == person.id,
                                                      Rating.round == event.reopen_count))
        if done is None:
            return event
    return None


def rate(session: Session, openid: str, event: Event, value: str, comment: str = "") -> str:
    """Record the rating; returns "recorded", "reopened" or "flagged" (a second 不满意)."""
    person = resident(session, openid)
    if session.scalar(select(Rating.id).where(Rating.event_id == event.id, Rating.resident_id == person.id,
                                              Rating.round == event.reopen_count)):
        raise AlreadyRated(event.number)
    session.add(Rating(event_id=event.id, resident_id=person.id, round=event.reopen_count, value=value,
                       comment=comment[:500], at=utcnow()))
    if event.reporter_id == person.id:
        event.rating = value
    note = RATING_LABELS[value] + (f"：{comment}" if comment else "")
    transition(session, event, "rate", actor="resident", note=note)
    if value != "unsatisfied":
        return "recorded"
    if event.reopen_count == 0:
        event.reopen_count = 1
        event.closed_at = None
        transition(session, event, "reopen", actor="system", actor_name="系统", note=f"居民不满意，重办：{comment}")
        rounds.start_round(event, utcnow(), new_round=True)
        notices.reopened(session, event, comment)
        return "reopened"
    event.flagged = True
    return "flagged"


def expire_unrated(session: Session, now=None) -> int:
    """No answer within 7 days of 结案 → recorded as 未评价 (never counted as satisfied)."""
    now = now or utcnow()
    expired = 0
    for event in session.scalars(select(Event).where(Event.status == "closed", Event.closed_at <= now - RATING_WINDOW,
                                                     Event.rating.is_(None))):
        session.add(Rating(event_id=event.id, resident_id=event.reporter_id, round=event.reopen_count,
                           value="unrated", at=now))
        event.rating = "unrated"
        transition(session, event, "note", actor="system", actor_name="系统", note="结案7天未评价，记为未评价")
        expired += 1
    return expired
