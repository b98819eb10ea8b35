"""Grid workers' use cases: bind, list tasks, accept, progress, complete, return, escalate, patrol."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.lifecycle import EVENTS, transition
from bot.domain.models import BindCode, Event, Worker
from bot.domain.ownership import numbered_or_latest
from bot.domain.vocabulary import UNIT_LABELS, next_grade
from bot.events import intake
from bot.notify import notices
from bot.places.routing import route
from bot.timelimits import rounds

CODE_TTL = timedelta(hours=24)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def issue_bind_code(session: Session, phone: str) -> str:
    worker = session.scalar(select(Worker).where(Worker.phone == phone, Worker.active.is_(True)))
    if worker is None:
        raise LookupError(f"没有手机号为 {phone} 的网格员或志愿者")
    now = utcnow()
    for old in session.scalars(select(BindCode).where(BindCode.worker_id == worker.id, BindCode.used_at.is_(None))):
        old.used_at = now  # a new code replaces any unused one
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        clash = session.scalar(select(BindCode.id).where(BindCode.code_hash == _hash(code),
                                                         BindCode.used_at.is_(None), BindCode.expires_at > now))
        if clash is None:
            break
    session.add(BindCode(worker=worker, code_hash=_hash(code), expires_at=now + CODE_TTL))
    session.flush()
    return code


def bind(session: Session, openid: str, code: str) -> Worker | None:
    """Link `openid` to the worker the code was issued for; None for a wrong, used or expired code."""
    now = utcnow()
    found = session.scalar(select(BindCode).where(BindCode.code_hash == _hash(code.strip()),
                                                  BindCode.used_at.is_(None), BindCode.expires_at > now))
    if found is None:
        return None
    for other in session.scalars(select(Worker).where(Worker.openid == openid, Worker.id != found.worker_id)):
        other.openid = None  # one WeChat account, one worker
    session.flush()
    found.used_at = now
    found.worker.openid = openid
    session.flush()
    return found.worker


def worker_by_openid(session: Session, openid: str) -> Worker | None:
    return session.scalar(select(Worker).where(Worker.openid == openid, Worker.active.is_(True)))


def my_tasks(session: Session, worker: Worker, statuses=Event.WORKING_STATES, limit: int = 10) -> list[Event]:
    return list(session.scalars(
        select(Event).where(Event.worker_id == worker.id, Event.status.in_(statuses))
        .order_by(Event.updated_at.desc(), Event.id.desc()).limit(limit)
    ))


def find(session: Session, number: str) -> Event | None:
    return session.scalar(select(Event).where(Event.number == number.upper()))


def task(session: Session, worker: Worker, number: str | None, statuses=Event.WORKING_STATES) -> Event:
    """The numbered task, or the worker's most recent one; only the worker's own."""
    return numbered_or_latest(
        number, lambda n: session.scalar(select(Event).where(Event.number == n.upper())),
        lambda event: event.worker_id == worker.id, lambda: my_tasks(session, worker, statuses, limit=1))


def accept(session: Session, worker: Worker, event: Event) -> None:
    transition(session, event, "accept", actor="worker", actor_name=worker.name)
    notices.accepted(session, event)


def progress(session: Session, worker: Worker, event: Event, note: str) -> None:
    if event.status == "assigned":  # reporting progress means the work has started
        accept(session, worker, event)
    transition(session, event, "progress", actor="worker", actor_name=worker.name, note=note)
    notices.progress(session, event, note)


def complete(session: Session, worker: Worker, event: Event, note: str) -> None:
    if event.status == "assigned":
        accept(session, worker, event)
    transition(session, event, "complete", actor="worker", actor_name=worker.name, note=note or "已办结")
    notices.completed(session, event, note)


def give_back(session: Session, worker: Worker, event: Event, reason: str) -> None:
    """退回: not mine → back to the dispatcher queue, with the reason."""
    transition(session, event, "return", actor="worker", actor_name=worker.name, note=reason)
    event.worker = None
    event.unit = "dispatch"


def escalate(session: Session, event: Event, *, actor: str, actor_name: str, reason: str) -> str:
    """Move the event up one grade and into that level's queue; returns the new unit's label."""
    grade = next_grade(event.grade)
    if grade is None:
        raise EVENTS.refusal(event, "escalate")
    routed = route(session, event.grid, grade)
    transition(session, event, "escalate", actor=actor, actor_name=actor_name,
               note=f"{event.grade}→{grade}：{reason}".rstrip("："))
    event.grade = grade
    # An urgent event stays with the person handling it (a department queue is nobody at night);
    # the higher level supervises it.
    if not (event.urgent and routed.worker is None and event.worker is not None):
        event.unit = routed.unit
        event.worker = routed.worker
    rounds.start_round(event, utcnow(), new_round=True)
    label = routed.label if event.grid else UNIT_LABELS[grade]
    notices.escalated(session, event, label)
    return label


def attach_evidence(session: Session, worker: Worker, event: Event, media_id: str | None, pic_url: str | None):
    intake.add_photo(session, event, media_id=media_id, pic_url=pic_url, actor="worker")
    event.timeline[-1].actor_name = worker.name
    if event.status in Event.WORKING_STATES:
        notices.progress(session, event, "处置人员上传了现场照片", pic_url)


def patrol(session: Session, worker: Worker, text: str, source_key: str | None) -> Event:
    """巡查上报: what the worker finds on patrol becomes an event in their grid, assigned to them."""
    data = intake.Report(openid=worker.openid or f"worker:{worker.id}", text=text, source="patrol",
                         source_key=source_key)
    result = intake.report(session, data, grid_hint=worker.grid)
    event = result.event
    mine = event.grade == "A" and event.worker_id != worker.id and event.status in Event.UNACCEPTED_STATES
    if result.created and mine:
        transition(session, event, "assign", actor="worker", actor_name=worker.name, note="巡查发现，自行处置")
        event.worker, event.unit = worker, f"grid:{worker.grid_id}"
    return event
