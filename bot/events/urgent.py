"""The urgent path (突发性工作立即上报): an urgent report reaches people within seconds, whether or
not its place is known, and the first of them to 接单 takes it.

Who is alerted comes from bot.places.duty (the grid's workers, else the duty roster, else the
dispatchers); each one is recorded (EventAlert), so every alerted worker may 接单. Taking is one
compare-and-set on the event's status that also sets its worker: of two workers sending 接单 at
the same moment, exactly one wins; the loser, and everyone else alerted, is told who did.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.db import insert_ignore, utcnow
from bot.domain.lifecycle import EVENTS, transition
from bot.domain.models import Event, EventAlert, Grid, Worker
from bot.domain.states import ChangedFirst
from bot.notify import notices
from bot.notify.outbox import URGENT, enqueue
from bot.places import duty

TITLE = "紧急事件·请立即处置"


class TakenBy(Exception):
    """Someone else took the urgent event first; `name` says who."""

    def __init__(self, event: Event, name: str):
        super().__init__(f"紧急事件 {event.number} 已由{name}接单处置，无需重复前往。")
        self.name = name


@dataclass(frozen=True)
class Alerted:
    names: list[str]  # "网格员王芳", "东亭社区值班人员张敏", "指挥中心值班调度员"
    phone: str  # the community's duty phone


def alert(session: Session, event: Event, near: Grid | None) -> list[duty.OnDuty]:
    """Push the urgent task to everyone who should act now; returns whom (idempotent per person)."""
    people, _ = duty.to_alert(session, event.grid, near)
    session.flush()  # the event's id, before rows point at it
    now = utcnow()
    text = notices.task_text(event, TITLE, accept=any(p.worker_id for p in people))
    for person in people:
        insert_ignore(session, EventAlert, event_id=event.id, worker_id=person.worker_id, openid=person.openid,
                      name=person.label, at=now)
        enqueue(session, person.openid, text, event_id=event.id,
                dedup_key=f"{URGENT}{event.number}:{person.openid}")
    return people


def alerted(session: Session, event: Event) -> Alerted:
    """Who the event's alert actually reached, as the resident is told, and the duty phone."""
    names = session.scalars(select(EventAlert.name).where(EventAlert.event_id == event.id).order_by(EventAlert.id))
    near = event.grid or (event.reporter.grid if event.reporter else None)
    return Alerted(list(dict.fromkeys(names)), duty.duty_phone(near))


def was_alerted(session: Session, worker: Worker, event: Event) -> bool:
    return session.scalar(select(EventAlert.id).where(EventAlert.event_id == event.id,
                                                      EventAlert.worker_id == worker.id)) is not None


def open_alerts(session: Session, worker: Worker) -> list[Event]:
    """Urgent events this worker was alerted of that nobody has taken yet."""
    return list(session.scalars(
        select(Event).join(EventAlert, EventAlert.event_id == Event.id)
        .where(EventAlert.worker_id == worker.id, Event.status.in_(Event.UNACCEPTED_STATES))
        .order_by(Event.id.desc())))


def take(session: Session, worker: Worker, event: Event) -> None:
    """接单 of an urgent event by anyone alerted: the first wins (compare-and-set), the rest are told."""
    unit = f"grid:{worker.grid_id}" if worker.grid_id else event.unit
    mine = {"worker_id": worker.id, "unit": unit}
    if event.status not in Event.UNACCEPTED_STATES:  # read after the winner's commit
        if event.status == "accepted" and event.worker is not None:
            raise TakenBy(event, event.worker.name)
        raise EVENTS.refusal(event, "accept")
    try:
        if event.status == "reported":  # nobody assigned yet (place unknown): assign to oneself first
            transition(session, event, "assign", actor="worker", actor_name=worker.name, note="紧急事件，值班人员接单",
                       values=mine)
        transition(session, event, "accept", actor="worker", actor_name=worker.name, values=mine)
    except ChangedFirst:
        holder = event.worker.name if event.worker is not None else "其他人员"
        raise TakenBy(event, holder) from None
    event.worker = worker
    notices.accepted(session, event)
    for row in session.scalars(select(EventAlert).where(EventAlert.event_id == event.id,
                                                        EventAlert.openid != (worker.openid or ""))):
        enqueue(session, row.openid, f"【已有人接单】紧急事件 {event.number} 已由{worker.name}接单处置，无需重复前往。",
                event_id=event.id, dedup_key=f"urgent-taken:{event.number}:{row.openid}")
