"""Supervision (督办): 80 % reminders, overdue pushes, and automatic escalation after a second overdue.

The sweep reads only events whose `next_check_at` has passed (one indexed range scan), so what
came due while the service was down fires at the next start. Each notice is claimed by inserting
its (event, round, kind) row first: a second process, or a second sweep, finds it taken.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.db import insert_ignore, utcnow
from bot.domain import deadlines
from bot.domain.lifecycle import transition
from bot.domain.models import Event, SupervisionNotice
from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import local_text
from bot.events import casework
from bot.notify.outbox import enqueue
from settings import get_settings

log = logging.getLogger(__name__)
WHAT = {"respond": "接单响应", "resolve": "办结"}


def sweep(factory: sessionmaker[Session], now: datetime | None = None, limit: int = 500) -> int:
    """Fire every checkpoint that has come due; returns how many notices were fired."""
    now = now or utcnow()
    with factory() as session:
        ids = list(session.scalars(
            select(Event.id).where(Event.next_check_at <= now, Event.status.in_(Event.OPEN_STATES))
            .order_by(Event.next_check_at).limit(limit)
        ))
    fired = 0
    with factory() as session:
        done: dict[tuple[int, int], set[str]] = {}
        for event_id, round_, kind in session.execute(
            select(SupervisionNotice.event_id, SupervisionNotice.round, SupervisionNotice.kind)
            .where(SupervisionNotice.event_id.in_(ids))
        ):
            done.setdefault((event_id, round_), set()).add(kind)
        for event in session.scalars(select(Event).where(Event.id.in_(ids)).order_by(Event.next_check_at)):
            try:
                # one event's failure must not undo the others; changes are flushed once per event
                with session.begin_nested(), session.no_autoflush:
                    fired += check(session, event, now, done.get((event.id, event.deadline_round), set()))
            except Exception:
                log.exception("supervision of %s failed", event.number)
        session.commit()
    return fired


def _claim(session: Session, event: Event, kind: str, now: datetime) -> bool:
    return insert_ignore(session, SupervisionNotice, event_id=event.id, round=event.deadline_round, kind=kind,
                         at=now) is not None


def check(session: Session, event: Event, now: datetime, done: set[str]) -> int:
    """Fire the event's checkpoints that are due; `done` lists the round's notices already sent."""
    done = set(done)
    fired, round_checked = 0, event.deadline_round
    for kind, at in deadlines.checkpoints(event):
        if at > now or kind in done:
            continue
        if not _claim(session, event, kind, now):
            done.add(kind)
            continue
        done.add(kind)
        fired += 1
        if _fire(session, event, kind, now):
            break  # escalated: a new round with new deadlines began
    if event.deadline_round == round_checked:  # after an escalation the new round is already set
        deadlines.refresh(event, done)
    return fired


def _fire(session: Session, event: Event, kind: str, now: datetime) -> bool:
    """Act on one checkpoint; True when the event was escalated (its round changed)."""
    limit, _, step = kind.partition("_")
    due = deadlines.limit_due(event, kind)
    if step == "remind":
        if due is not None and due <= now:
            return False  # the service was down past the deadline: the overdue notice says it all
        _tell_worker(event, session, f"【即将超时】{event.number} 请在 {local_text(due)} 前完成{WHAT[limit]}。", kind)
        return False
    event.overdue = True
    event.overdue_count += 1
    if event.overdue_count >= 2:
        return _auto_escalate(session, event, limit)
    note = f"{WHAT[limit]}超时（时限 {local_text(due)}），督办"
    transition(session, event, "note", actor="system", actor_name="系统", note=note)
    text = f"【督办】{event.number} {WHAT[limit]}已超时（时限 {local_text(due)}），请立即处置。"
    _tell_worker(event, session, text, kind)
    _tell_dispatchers(event, session, text, kind)
    return False


def _auto_escalate(session: Session, event: Event, limit: str) -> bool:
    reason = f"{WHAT[limit]}再次超时，系统自动升级"
    try:
        label = casework.escalate(session, event, actor="system", actor_name="系统", reason=reason)
    except IllegalTransition:  # already grade D: keep supervising at the top
        transition(session, event, "note", actor="system", actor_name="系统", note=f"{reason}失败：已是最高等级")
        _tell_dispatchers(event, session, f"【督办】{event.number} 已是D类仍超时，请指挥中心处置。", limit + "_top")
        return False
    text = f"【自动升级】{event.number} {reason}，转{label}处理。"
    _tell_dispatchers(event, session, text, "escalate")
    return True


def _tell_worker(event: Event, session: Session, text: str, kind: str) -> None:
    if event.worker is not None and event.worker.openid:
        enqueue(session, event.worker.openid, text, event_id=event.id,
                dedup_key=f"sup:{event.number}:{event.deadline_round}:{kind}:w")


def _tell_dispatchers(event: Event, session: Session, text: str, kind: str) -> None:
    for openid in filter(None, (o.strip() for o in get_settings().dispatcher_openids.split(","))):
        enqueue(session, openid, text, event_id=event.id,
                dedup_key=f"sup:{event.number}:{event.deadline_round}:{kind}:{openid}")
