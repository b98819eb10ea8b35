"""Volunteer service orders, the use cases of the five orders (五单): 点单 → 派单 → 接单 → 评单 → 晒单.

Each use case checks who may act, changes the order through its state machine (bot/orders/lifecycle.py,
a compare-and-set per transition) and leaves the pushes to bot/orders/notices.py. Plain values in,
plain results out: no HTTP request or WeChat message objects here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.models import Order, OrderOffer, OrderPhoto, PointsEntry, Worker
from bot.domain.numbering import next_number
from bot.domain.ownership import NotYours
from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import RATING_SCALE
from bot.events.intake import resident
from bot.orders import notices
from bot.orders.lifecycle import Taken, record_order, relate, transition
from bot.orders.queries import matching_volunteers, offered_to
from bot.orders.services_menu import Service
from bot.places.routing import grid_by_location, grid_by_text
from settings import get_settings

HALF_HOUR = timedelta(minutes=30)


@dataclass
class Created:
    order: Order
    created: bool  # False when a WeChat retry found the order its first delivery created
    offered: list[Worker]
    needs_place: bool


# -- 点单 --

def create(session: Session, openid: str, service: Service, note: str = "", *, source_key: str | None = None,
           place_hint: str = "") -> Created:
    """A resident orders a service; offered at once when the place is known (idempotent on source_key)."""
    if source_key:
        existing = session.scalar(select(Order).where(Order.source_key == source_key))
        if existing is not None:
            return Created(existing, False, [], existing.grid_id is None and existing.status == "requested")
    person = resident(session, openid)
    grid, place = grid_by_text(session, f"{place_hint} {note}") if (place_hint or note) else (None, None)
    if grid is not None:
        person.grid = grid
    now = utcnow()
    order = Order(number=next_number(session), resident=person, source_key=source_key, service=service.name,
                  note=note[:1000], grid=grid or person.grid, place_text=place, status="requested",
                  created_at=now, updated_at=now)
    session.add(order)
    session.flush()
    record_order(session, order, f"{service.name}：{note}".rstrip("："))
    session.flush()
    if order.grid is None:
        return Created(order, True, [], True)
    return Created(order, True, offer(session, order), False)


def set_place(session: Session, order: Order, *, text: str = "", lat=None, lng=None, label=None) -> list[Worker]:
    """The resident said where: remember the place, then offer the order to matching volunteers."""
    if lat is not None and lng is not None:
        grid = grid_by_location(session, lat, lng)
        order.place_text = (label or f"{lat:.5f},{lng:.5f}")[:200]
    else:
        grid, _ = grid_by_text(session, text)
        order.place_text = text[:200]
    transition(session, order, "place", actor="resident", note=f"地点：{order.place_text}")
    if grid is None:
        notices.needs_dispatcher(session, order, new=True)
        return []
    order.grid = grid
    if order.resident is not None:
        order.resident.grid = grid
    return offer(session, order)


# -- 派单 --

def offer(session: Session, order: Order, *, actor: str = "system", actor_name: str = "系统",
          exclude: tuple[int, ...] = ()) -> list[Worker]:
    """Push the order to every matching volunteer to grab (抢单); none → it waits for a dispatcher."""
    volunteers = matching_volunteers(session, order, exclude)
    if not volunteers:
        transition(session, order, "note", actor=actor, actor_name=actor_name,
                   note="暂无匹配的志愿者，转调度员派单")
        notices.needs_dispatcher(session, order)
        return []
    expires = utcnow() + timedelta(minutes=get_settings().order_offer_minutes)
    names = "、".join(w.name for w in volunteers)
    transition(session, order, "offer", actor=actor, actor_name=actor_name, note=f"推送给志愿者：{names}",
               values={"offer_expires_at": expires})
    for volunteer in volunteers:
        try:
            with session.begin_nested():
                session.add(OrderOffer(order_id=order.id, volunteer_id=volunteer.id, at=utcnow()))
        except IntegrityError:
            pass  # offered to them before
        notices.offered(session, order, volunteer)
    return volunteers


def assign(session: Session, order: Order, volunteer: Worker, *, actor_name: str, note: str = "") -> None:
    """A dispatcher assigns the order to one volunteer, who confirms with 接单."""
    if volunteer.role != "volunteer" or not volunteer.active:
        raise ValueError("只能派给在册的志愿者")
    previous = order.volunteer if order.volunteer_id not in (None, volunteer.id) else None
    expires = utcnow() + timedelta(minutes=get_settings().order_offer_minutes)
    transition(session, order, "assign", actor="dispatcher", actor_name=actor_name,
               note=note or f"派给志愿者{volunteer.name}",
               values={"volunteer_id": volunteer.id, "offer_expires_at": expires, "accepted_at": None})
    relate(session, order)
    notices.assigned(session, order, volunteer, previous)


# -- 接单 / 抢单 --

def grab(session: Session, volunteer: Worker, order: Order) -> None:
    """Accept an order offered or assigned to the volunteer; the first acceptance wins (raises Taken)."""
    if order.status in (*Order.HELD_STATES, *Order.DONE_STATES) and order.volunteer_id != volunteer.id:
        raise Taken(order)  # someone else holds it; cancelled or requested: the table refuses below
    if order.status == "offered" and not offered_to(session, order, volunteer):
        raise NotYours(order.number)  # only the volunteers it was offered to may grab it
    now = utcnow()
    transition(session, order, "accept", actor="volunteer", actor_name=volunteer.name,
               note="抢单成功" if order.status == "offered" else "确认接单",
               values={"volunteer_id": volunteer.id, "accepted_at": now, "offer_expires_at": None})
    relate(session, order)
    others = list(session.scalars(select(Worker).join(OrderOffer, OrderOffer.volunteer_id == Worker.id)
                                  .where(OrderOffer.order_id == order.id, Worker.id != volunteer.id)))
    notices.accepted(session, order, others)


def give_back(session: Session, volunteer: Worker, order: Order, reason: str = "") -> list[Worker]:
    """退单 before the service is done: offered again to the other matching volunteers, else the dispatcher."""
    if order.volunteer_id != volunteer.id:
        raise NotYours(order.number)
    transition(session, order, "give_back", actor="volunteer", actor_name=volunteer.name, note=reason or "志愿者退单",
               values={"volunteer_id": None, "accepted_at": None, "offer_expires_at": None})
    relate(session, order)
    return offer(session, order, exclude=(volunteer.id,))


def expire_offers(session: Session, now: datetime | None = None) -> int:
    """Offered or assigned orders nobody accepted in time go back to the dispatcher (scheduler job)."""
    now = now or utcnow()
    minutes = get_settings().order_offer_minutes
    expired = 0
    due = session.scalars(select(Order).where(Order.status.in_(Order.WAITING_STATES),
                                              Order.offer_expires_at <= now).order_by(Order.id).limit(200))
    for order in list(due):
        try:
            transition(session, order, "timeout", actor="system", actor_name="系统",
                       note=f"{minutes}分钟内无人接单，退回调度员派单",
                       values={"volunteer_id": None, "offer_expires_at": None})
        except IllegalTransition:
            continue  # accepted at this very moment: nothing to do
        relate(session, order)
        notices.timed_out(session, order)
        expired += 1
    return expired


# -- 完成 / 评单 / 晒单 --

def service_hours(accepted_at: datetime | None, completed_at: datetime) -> float:
    """Accept → complete, rounded up to half hours (at least 0.5 h), capped by the settings."""
    spent = completed_at - (accepted_at or completed_at)
    halves = max(1, math.ceil(spent / HALF_HOUR))
    return min(halves * 0.5, get_settings().order_max_hours)


def complete(session: Session, volunteer: Worker, order: Order, note: str = "",
             now: datetime | None = None) -> PointsEntry:
    """完成: the service is done; hours and points are credited to the volunteer's ledger."""
    if order.volunteer_id != volunteer.id:
        raise NotYours(order.number)
    if order.status == "assigned":  # completing an assigned order means it was accepted
        grab(session, volunteer, order)
    now = now or utcnow()
    hours = service_hours(order.accepted_at, now)
    points = round(hours * get_settings().points_per_hour, 2)
    transition(session, order, "complete", actor="volunteer", actor_name=volunteer.name,
               note=f"{note or '已完成'}（计 {hours:g} 小时，{points:g} 积分）",
               values={"completed_at": now, "result_note": note[:1000], "hours": hours, "points": points})
    credit = PointsEntry(volunteer_id=volunteer.id, order_id=order.id, hours=hours, points=points,
                         note=f"{order.number} {order.service}", at=now)
    session.add(credit)
    session.flush()
    notices.completed(session, order, volunteer, note)
    return credit


def attach_photo(session: Session, volunteer: Worker, order: Order, media_id: str | None, url: str | None) -> None:
    transition(session, order, "photo", actor="volunteer", actor_name=volunteer.name, note="上传服务照片")
    session.add(OrderPhoto(order_id=order.id, media_id=media_id, url=url, created_at=utcnow()))
    session.flush()
    session.refresh(order, ["photos"])


def rate(session: Session, openid: str, order: Order, value: str, comment: str = "",
         public: bool | None = None) -> None:
    """评单: the resident rates once; 不满意 flags the order for a dispatcher and keeps it off the showcase."""
    if value not in RATING_SCALE:
        raise ValueError(f"unknown rating {value}")
    values = {"rating": value, "rating_comment": comment[:500], "rated_at": utcnow()}
    if public is not None:
        values["public"] = public
    if value == "unsatisfied":
        values["flagged"] = True
    note = RATING_SCALE[value] + (f"：{comment}" if comment else "")
    transition(session, order, "rate", actor="resident", note=note, values=values)
    if value == "unsatisfied":
        notices.unsatisfied(session, order, comment)


def set_public(session: Session, order: Order, public: bool) -> None:
    order.public = public
    note = "居民同意晒单展示" if public else "居民选择不公开（不晒单）"
    transition(session, order, "note", actor="resident", note=note)


def cancel(session: Session, order: Order, *, actor: str, actor_name: str = "", reason: str = "") -> None:
    volunteer = order.volunteer
    transition(session, order, "cancel", actor=actor, actor_name=actor_name, note=reason or "取消服务单",
               values={"offer_expires_at": None})
    notices.cancelled(session, order, volunteer, by_resident=actor == "resident", reason=reason)
