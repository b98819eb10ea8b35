"""The dispatcher JSON API for volunteer service orders (五单) under /api/orders.

Reading needs a login (any role); assigning, re-offering and cancelling need the dispatcher or
admin role and the session's CSRF token (`X-CSRF-Token`), exactly like the event endpoints. A user
scoped to a street or district sees only orders in that part of the grid tree (orders not yet
placed in a grid are visible to unscoped users only). Phone numbers are masked for viewers.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import auth, queries
from admin import reveal as reveal_audit
from admin.deps import DB, Actor, Body, Viewer, act, can_see_phone, pick_person, text_field
from admin.present import timeline_json
from bot.domain.models import LoginSession, Order, OrderOffer, Worker
from bot.domain.privacy import for_reader
from bot.domain.vocabulary import RATING_LABELS, local_iso
from bot.orders import lifecycle, notices, orders
from bot.orders import queries as order_queries

router = APIRouter(prefix="/api/orders", tags=["service orders (五单)"])


def order_json(session: Session, order: Order, *, keep_contacts: bool) -> dict:
    text, phone = for_reader(keep_contacts)
    offered = session.scalars(select(Worker).join(OrderOffer, OrderOffer.volunteer_id == Worker.id)
                              .where(OrderOffer.order_id == order.id).order_by(OrderOffer.id))
    volunteer = order.volunteer
    return {
        "number": order.number,
        "status": order.status,
        "status_label": lifecycle.STATUS_LABELS[order.status],
        "service": order.service,
        "note": text(order.note),
        "place": text(order.place_text),
        "grid": order.grid.full_name if order.grid else None,
        "volunteer": {"id": volunteer.id, "name": volunteer.name, "phone": phone(volunteer.phone)}
        if volunteer else None,
        "offered_to": [{"id": w.id, "name": w.name} for w in offered],
        "offer_expires_at": local_iso(order.offer_expires_at),
        "accepted_at": local_iso(order.accepted_at),
        "completed_at": local_iso(order.completed_at),
        "result_note": text(order.result_note),
        "rating": order.rating,
        "rating_label": RATING_LABELS.get(order.rating or ""),
        "rating_comment": text(order.rating_comment),
        "public": order.public,
        "flagged": order.flagged,
        "hours": order.hours,
        "points": order.points,
        "photos": [{"url": p.url, "media_id": p.media_id} for p in order.photos],
        "created_at": local_iso(order.created_at),
        "updated_at": local_iso(order.updated_at),
        "timeline": timeline_json(order.timeline, lifecycle.ACTION_LABELS, text),
    }


def visible_order(session: Session, login: LoginSession, number: str) -> Order:
    order = order_queries.by_number(session, number)
    if order is None or not auth.in_scope(login.user, order.grid):
        raise HTTPException(404, "未找到该服务单")
    return order


def _volunteer(session: Session, body: dict) -> Worker:
    return pick_person(session, body, role="volunteer", key="volunteer", label="志愿者")


def find_orders(session: Session, login: LoginSession, *, status: str | None = None, service: str | None = None,
                volunteer: int | None = None, q: str = "", flagged: bool = False, limit: int = 50) -> list[Order]:
    """Orders in the user's scope, newest first, filtered; raises HTTPException 400 on an unknown status."""
    query = select(Order).order_by(Order.id.desc())
    if status:
        wanted = ["requested", "offered", "assigned", "accepted"] if status == "open" else \
            [s.strip() for s in status.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in lifecycle.STATUS_LABELS]
        if unknown:
            raise HTTPException(400, f"未知状态：{','.join(unknown)}")
        query = query.where(Order.status.in_(wanted))
    if service:
        query = query.where(Order.service == service)
    if volunteer is not None:
        query = query.where(Order.volunteer_id == volunteer)
    if flagged:
        query = query.where(Order.flagged.is_(True))
    if q.strip():
        query = query.where(Order.number.ilike(f"%{q.strip().replace('%', '')}%"))
    scope = queries.scope_clause(session, login.user, Order.grid_id)
    if scope is not None:
        query = query.where(scope)
    return list(session.scalars(query.limit(limit)))


def status_counts(session: Session, login: LoginSession) -> dict[str, int]:
    query = select(Order.status, func.count(Order.id)).group_by(Order.status)
    scope = queries.scope_clause(session, login.user, Order.grid_id)
    if scope is not None:
        query = query.where(scope)
    found = dict(session.execute(query).all())
    return {status: found.get(status, 0) for status in lifecycle.STATUS_LABELS}


@router.get("")
def list_orders(session: DB, login: Viewer,
                status: str | None = Query(None, description="requested | offered | assigned | accepted | "
                                                             "completed | rated | cancelled; comma-separated; "
                                                             "or open"),
                service: str | None = Query(None, description="a service menu name, e.g. 磨刀"),
                volunteer: int | None = Query(None, description="the volunteer's id"),
                q: str = Query("", max_length=40, description="part of the order number"),
                flagged: bool = Query(False, description="only orders rated 不满意 (a dispatcher follows up)"),
                limit: int = Query(50, ge=1, le=500)) -> dict:
    """Service orders, newest first; `requested` is the dispatcher's queue (待派单)."""
    found = find_orders(session, login, status=status, service=service, volunteer=volunteer, q=q, flagged=flagged,
                        limit=limit)
    keep = can_see_phone(login)
    return {"count": len(found), "counts": status_counts(session, login),
            "orders": [order_json(session, o, keep_contacts=keep) for o in found]}


@router.get("/{number}")
def get_order(number: str, session: DB, login: Viewer) -> dict:
    """One order with its volunteers, photos, rating, hours and full timeline."""
    order = visible_order(session, login, number)
    return order_json(session, order, keep_contacts=can_see_phone(login))


@router.post("/{number}/assign")
def assign(number: str, session: DB, login: Actor, body: Body) -> dict:
    """派单: body `volunteer_id` | `volunteer_phone` | `volunteer_name`, optional `note`; the volunteer
    is pushed the order and confirms with 接单."""
    order = visible_order(session, login, number)
    volunteer = _volunteer(session, body)
    if not auth.in_scope(login.user, volunteer.grid):
        raise HTTPException(403, "该志愿者不在您的管辖范围")
    act(orders.assign, session, order, volunteer, actor_name=login.user.username, note=text_field(body, "note"))
    return order_json(session, order, keep_contacts=False)


@router.post("/{number}/offer")
def offer(number: str, session: DB, login: Actor) -> dict:
    """抢单 again: push a waiting order to every matching volunteer (skills and grid)."""
    order = visible_order(session, login, number)
    if not lifecycle.can(order, "offer"):
        raise HTTPException(409, f"服务单当前状态为「{lifecycle.STATUS_LABELS[order.status]}」，不能推送抢单")
    act(orders.offer, session, order, actor="dispatcher", actor_name=login.user.username)
    return order_json(session, order, keep_contacts=False)


@router.post("/{number}/cancel")
def cancel(number: str, session: DB, login: Actor, body: Body) -> dict:
    """取消: `reason` required; the resident and the volunteer (if any) are told."""
    order = visible_order(session, login, number)
    reason = text_field(body, "reason", "note", required="取消服务单必须填写原因（reason）")
    act(orders.cancel, session, order, actor="dispatcher", actor_name=login.user.username, reason=reason)
    return order_json(session, order, keep_contacts=False)


@router.post("/{number}/message")
def message(number: str, session: DB, login: Actor, body: Body) -> dict:
    """转告居民: a message to the order's resident through the account (the volunteer asked for it,
    or the time changed); `text` required. The resident's number is not handed out for it."""
    order = visible_order(session, login, number)
    text = text_field(body, "text", "message", required="请填写留言内容（text）")
    act(lifecycle.transition, session, order, "note", actor="dispatcher", actor_name=login.user.username,
        note=f"调度员留言居民：{text}")
    notices.relayed(session, order, text)
    return order_json(session, order, keep_contacts=False)


@router.post("/{number}/reveal")
def reveal(number: str, session: DB, login: Actor, body: Body) -> dict:
    """查看完整号码: the order's note and place with contacts whole; recorded like an event's reveal."""
    order = visible_order(session, login, number)
    reveal_audit.record(session, login, "order", order.number, "note", text_field(body, "reason"))
    return {"number": order.number, "note": reveal_audit.whole(order.note),
            "place": reveal_audit.whole(order.place_text)}
