"""The dispatcher's urgent alarm and queue (issue 15), apart from the other admin pages:

- `GET /api/alerts/urgent` — open urgent events not yet acknowledged (the page polls it every few
  seconds: a banner and a sound until a dispatcher acknowledges); `POST …/{number}/ack`.
- `GET /api/queue` — the dispatcher queue: complaints, 转人工, repeated 催办; `POST /api/queue/{id}/answer`
  pushes the answer to the resident.
- `GET /admin/queue` — the queue page.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from admin import auth
from admin.deps import DB, Actor, Body, Viewer, act, shown, text_field, visible_event
from admin.pages import Login, render
from bot.core.db import insert_ignore, utcnow
from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import DispatchRequest, Event, EventAlert, UrgentAck
from bot.domain.vocabulary import local_iso
from bot.events import queue

router = APIRouter(prefix="/api", tags=["dispatcher"])
pages = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/alerts/urgent")
def urgent_alerts(session: DB, login: Viewer) -> dict:
    """Open urgent events in the login's scope that no dispatcher has acknowledged yet."""
    acked = select(UrgentAck.event_id)
    events = session.scalars(select(Event).where(Event.urgent.is_(True), Event.status.in_(Event.OPEN_STATES),
                                                 Event.id.not_in(acked)).order_by(Event.id.desc()).limit(20))
    text, _ = shown(login)
    items = []
    for event in events:
        if not auth.in_scope(login.user, event.grid):
            continue
        alerted = list(session.scalars(select(EventAlert.name).where(EventAlert.event_id == event.id)))
        items.append({"number": event.number, "status": STATUS_LABELS[event.status], "text": text(event.text)[:120],
                      "place": event.place_text or (event.grid.full_name if event.grid else "地点不明"),
                      "alerted": list(dict.fromkeys(alerted)), "created_at": local_iso(event.created_at),
                      "worker": event.worker.name if event.worker else None})
    return {"events": items}


@router.post("/alerts/urgent/{number}/ack")
def acknowledge(number: str, session: DB, login: Actor) -> dict:
    """A dispatcher has seen the urgent event: its alarm stops on every dispatcher's page."""
    event = visible_event(session, login, number)
    insert_ignore(session, UrgentAck, event_id=event.id, username=login.user.username, at=utcnow())
    return {"number": event.number, "acknowledged": True}


def _request_json(request: DispatchRequest, login) -> dict:
    text, _ = shown(login)
    return {"id": request.id, "kind": request.kind, "kind_label": queue.KIND_LABELS[request.kind],
            "text": text(request.text), "status": request.status, "answer": request.answer,
            "event": request.event.number if request.event else None, "created_at": local_iso(request.created_at),
            "answered_by": request.answered_by}


@router.get("/queue")
def dispatcher_queue(session: DB, login: Viewer) -> dict:
    """The open requests of the dispatcher queue, oldest first."""
    return {"requests": [_request_json(r, login) for r in queue.pending(session)
                         if r.event is None or auth.in_scope(login.user, r.event.grid)]}


@router.post("/queue/{request_id}/answer")
def answer(request_id: int, session: DB, login: Actor, body: Body) -> dict:
    """Answer a request: `text` is pushed to the resident (and noted on the linked event)."""
    found = session.get(DispatchRequest, request_id)
    if found is None or (found.event is not None and not auth.in_scope(login.user, found.event.grid)):
        raise HTTPException(404, "未找到该请求")
    act(queue.answer, session, found, username=login.user.username,
        text=text_field(body, "text", "answer", required="请填写答复内容（text）"))
    return _request_json(found, login)


@pages.get("/queue")
def queue_page(request: Request, session: DB, login: Login) -> HTMLResponse:
    requests = [r for r in queue.pending(session) if r.event is None or auth.in_scope(login.user, r.event.grid)]
    return render("queue.html", request, login, requests=[_request_json(r, login) for r in requests])
