"""Events for the dispatcher: the list, one event, and every action on it (派单, 上报升级, 核查结案,
不予受理, 留言, and the corrections: category, grade, merge). Scope applies to every event."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.orm import Session

from admin import auth, queries
from admin import reveal as reveal_audit
from admin.deps import (
    DB,
    Actor,
    Body,
    Viewer,
    act,
    can_search_phone,
    can_see_phone,
    pick_person,
    text_field,
    visible_event,
)
from admin.present import event_json, event_row
from bot.core.db import utcnow
from bot.domain.models import Event, LoginSession, Worker
from bot.events import dispatch, followup

router = APIRouter(prefix="/api", tags=["dispatcher"])


@router.get("/events")
def list_events(request: Request, session: DB, login: Viewer) -> dict:
    """The event list: `status` (or `open`), `grade`, `category`, `grid` (id, with its subtree),
    `overdue`, `unclassified`, `urgent`, `date_from`/`date_to` (YYYY-MM-DD), `q` (number, text or
    phone), `page`, `per_page`; with per-status counts."""
    f = queries.Filters.parse(request.query_params)
    keep = can_see_phone(login)
    page = queries.list_events(session, login.user, f, can_see_phone=can_search_phone(login))
    now = utcnow()
    return {"total": page.total, "page": page.page, "pages": page.pages, "per_page": page.per_page,
            "counts": page.counts, "overdue": page.overdue, "unclassified": page.unclassified,
            "events": [event_row(e, now, keep_contacts=keep) for e in page.events]}


@router.get("/events/{number}")
def get_event(number: str, session: DB, login: Viewer) -> dict:
    """An event with its classification explanation, attachments, ratings and full timeline."""
    event = visible_event(session, login, number)
    return event_json(session, event, keep_contacts=can_see_phone(login))


def _worker(session: Session, body: dict) -> Worker:
    # Events go to grid workers; volunteers take service orders (admin/api/orders.py).
    return pick_person(session, body, role="grid_worker", key="worker", label="处置人员")


def _act_on(session: Session, login: LoginSession, event: Event, action, *args, **fields) -> dict:
    """Run a dispatcher's action on the event; answer the event as its actor now sees it."""
    act(action, session, event, *args, actor_name=login.user.username, **fields)
    return event_json(session, event)


@router.post("/events/{number}/assign")
def assign(number: str, session: DB, login: Actor, body: Body) -> dict:
    """派单 / 改派: body `worker_id` | `worker_phone` | `worker_name`, optional `note`."""
    event = visible_event(session, login, number)
    worker = _worker(session, body)
    if not auth.in_scope(login.user, worker.grid):
        raise HTTPException(403, "该处置人员不在您的管辖范围")
    return _act_on(session, login, event, dispatch.assign, worker, note=text_field(body, "note"))


@router.post("/events/{number}/escalate")
def escalate(number: str, session: DB, login: Actor, body: Body) -> dict:
    """上报升级: one grade up (A→B→C→D), into that level's queue; `reason` optional."""
    event = visible_event(session, login, number)
    return _act_on(session, login, event, dispatch.escalate, reason=text_field(body, "reason", "note"))


@router.post("/events/{number}/close")
def close(number: str, session: DB, login: Actor, body: Body) -> dict:
    """核查结案: a completed event is checked and closed; the residents are asked to rate."""
    event = visible_event(session, login, number)
    return _act_on(session, login, event, dispatch.close, note=text_field(body, "note"))


@router.post("/events/{number}/reject")
def reject(number: str, session: DB, login: Actor, body: Body) -> dict:
    """不予受理: `reason` required."""
    event = visible_event(session, login, number)
    reason = text_field(body, "reason", "note", required="不予受理必须填写原因（reason）")
    return _act_on(session, login, event, dispatch.reject, reason=reason)


@router.post("/events/{number}/message")
def message(number: str, session: DB, login: Actor, body: Body) -> dict:
    """Message the event's residents through the push outbox: `text` required."""
    event = visible_event(session, login, number)
    text = text_field(body, "text", "message", required="请填写留言内容（text）")
    return _act_on(session, login, event, dispatch.message, text=text)


@router.post("/events/{number}/category")
def change_category(number: str, session: DB, login: Actor, body: Body) -> dict:
    """调整分类: `category` (a taxonomy code), optional `subcategory`."""
    event = visible_event(session, login, number)
    category = text_field(body, "category", required="请选择分类（category）")
    act(dispatch.change_category, session, event, actor_name=login.user.username, category=category,
        subcategory=text_field(body, "subcategory"))
    return {"ok": True, "number": event.number, "category": event.category, "subcategory": event.subcategory}


@router.post("/events/{number}/grade")
def change_grade(number: str, session: DB, login: Actor, body: Body) -> dict:
    """调整等级: `grade` A–D, optional `reason`."""
    event = visible_event(session, login, number)
    grade = text_field(body, "grade", required="请选择等级（grade）")
    act(dispatch.change_grade, session, event, actor_name=login.user.username, grade=grade,
        reason=text_field(body, "reason", "note"))
    return {"ok": True, "number": event.number, "grade": event.grade}


@router.post("/events/{number}/merge")
def merge(number: str, session: DB, login: Actor, body: Body) -> dict:
    """合并重复事件: `target` (the number this one duplicates), optional `note`."""
    event = visible_event(session, login, number)
    target_number = text_field(body, "target", "into", required="请填写要合并到的事件编号（target）")
    target = visible_event(session, login, target_number)
    act(dispatch.merge, session, event, target, actor_name=login.user.username, note=text_field(body, "note"))
    return {"ok": True, "number": event.number, "merged_into": target.number}


@router.post("/events/{number}/supervise")
def supervise(number: str, session: DB, login: Actor, body: Body) -> dict:
    """人工督办: push the handling worker now and flag the event 督办; optional `note`."""
    event = visible_event(session, login, number)
    return _act_on(session, login, event, followup.supervise, note=text_field(body, "note", "reason"))


@router.post("/events/{number}/reopen")
def reopen(number: str, session: DB, login: Actor, body: Body) -> dict:
    """重新办理 after a second 不满意 (居民二次不满意): a new round for the worker; `reason` required."""
    event = visible_event(session, login, number)
    reason = text_field(body, "reason", "note", required="重新办理必须填写原因（reason）")
    return _act_on(session, login, event, followup.reopen, reason=reason)


@router.post("/events/{number}/reveal")
def reveal(number: str, session: DB, login: Actor, body: Body) -> dict:
    """查看完整号码: the event's contact number and text with contacts whole, for a dispatcher who
    must call the resident back; every reveal is recorded (GET /admin/audit). Optional `reason`."""
    event = visible_event(session, login, number)
    reveal_audit.record(session, login, "event", event.number, "phone", text_field(body, "reason"))
    return {"number": event.number, "phone": event.phone, "text": reveal_audit.whole(event.text),
            "place": reveal_audit.whole(event.place_text)}
