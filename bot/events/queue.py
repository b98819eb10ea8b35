"""The dispatcher queue (调度队列) and residents' chasers (催办).

Complaints about the handling or a worker, 转人工, and a second 催办 within the response limit
land here, linked to the event when there is one, and are pushed to the dispatchers, never to
the worker concerned. A dispatcher answers from the admin page; the answer is pushed to the
resident and noted on the event's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.lifecycle import STATUS_LABELS, transition
from bot.domain.models import DispatchRequest, Event, TimelineEntry
from bot.events.intake import resident
from bot.notify.outbox import enqueue
from bot.places import duty

KIND_LABELS = DispatchRequest.KINDS


def ask(session: Session, openid: str, kind: str, text: str, event: Event | None = None) -> DispatchRequest:
    """Put a resident's request in the dispatcher queue and tell the dispatchers on duty."""
    person = resident(session, openid)
    request = DispatchRequest(kind=kind, resident=person, event=event, text=text[:1000], status="open",
                              answer="", answered_by="", created_at=utcnow())
    session.add(request)
    session.flush()
    if event is not None:
        transition(session, event, "note", actor="resident", note=f"{KIND_LABELS[kind]}（转调度员）：{text[:200]}")
    about = f"（事件 {event.number}）" if event is not None else ""
    notice = f"【调度队列·{KIND_LABELS[kind]}】{about}\n{text[:300]}\n请在调度台答复。"
    for person_on_duty in duty.dispatchers():
        enqueue(session, person_on_duty.openid, notice, dedup_key=f"queue:{request.id}:{person_on_duty.openid}")
    return request


def add_to(session: Session, request: DispatchRequest, text: str) -> None:
    """The resident wrote more while waiting for the dispatcher: it joins their open request (and
    the dispatchers see it)."""
    request.text = (request.text + "\n" + text)[:4000]
    notice = f"【调度队列·{KIND_LABELS[request.kind]}·补充】\n{text[:300]}\n请在调度台答复。"
    for person_on_duty in duty.dispatchers():
        enqueue(session, person_on_duty.openid, notice)


def open_request(session: Session, openid: str, kind: str | None = None) -> DispatchRequest | None:
    person = resident(session, openid)
    query = select(DispatchRequest).where(DispatchRequest.resident_id == person.id, DispatchRequest.status == "open")
    if kind:
        query = query.where(DispatchRequest.kind == kind)
    return session.scalar(query.order_by(DispatchRequest.id.desc()).limit(1))


def pending(session: Session, limit: int = 100) -> list[DispatchRequest]:
    return list(session.scalars(select(DispatchRequest).where(DispatchRequest.status == "open")
                                .order_by(DispatchRequest.id).limit(limit)))


def answer(session: Session, request: DispatchRequest, *, username: str, text: str) -> None:
    """A dispatcher's answer: pushed to the resident, noted on the event."""
    text = text.strip()
    if not text:
        raise ValueError("答复内容不能为空")
    if request.status != "open":
        raise ValueError("该请求已答复")
    request.status, request.answer = "answered", text[:2000]
    request.answered_by, request.answered_at = username, utcnow()
    about = f"（事件 {request.event.number}）" if request.event is not None else ""
    enqueue(session, request.resident.openid, f"【调度员答复】{about}\n{text[:500]}",
            event_id=request.event_id, dedup_key=f"queue-answer:{request.id}")
    if request.event is not None:
        transition(session, request.event, "note", actor="dispatcher", actor_name=username,
                   note=f"答复居民{KIND_LABELS[request.kind]}：{text[:200]}")


@dataclass(frozen=True)
class Chased:
    event: Event
    to_dispatcher: bool  # a second chaser within the response limit


def chase(session: Session, openid: str, event: Event, text: str) -> Chased:
    """催办: a timeline entry and a push to the handler; the second within the response limit goes
    to the dispatcher queue as well."""
    now = utcnow()
    span = (event.respond_due_at - event.clock_started_at) if event.respond_due_at and event.clock_started_at \
        else timedelta(hours=2)
    earlier = session.scalar(select(TimelineEntry.id).where(
        TimelineEntry.event_id == event.id, TimelineEntry.action == "urge", TimelineEntry.at >= now - span).limit(1))
    transition(session, event, "urge", actor="resident", note=text[:200])
    if event.worker is not None and event.worker.openid:
        enqueue(session, event.worker.openid, f"【居民催办】{event.number}（{STATUS_LABELS[event.status]}）\n"
                f"居民：{text[:200]}\n请尽快处置并回复进展。", event_id=event.id)
    if earlier is not None:
        ask(session, openid, "chaser", text, event)
    return Chased(event, earlier is not None)
