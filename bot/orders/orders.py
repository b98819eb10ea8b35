"""Volunteer service orders, the five orders (五单): 点单 → 派单 → 接单 → 评单 → 晒单.

One transition table and one `transition()` that changes an order's state. Every transition is a
compare-and-set — `UPDATE … WHERE id = :id AND status = :expected` with a rowcount check — so two
volunteers grabbing the same order at the same moment (in any number of processes) cannot both win:
the second finds the status already changed and is told the order is taken.

Plain values in, plain results out: no HTTP request or WeChat message objects here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot.core.db import utcnow
from bot.domain.models import Grid, Order, OrderEntry, OrderOffer, OrderPhoto, PointsEntry, Resident, Worker
from bot.domain.numbering import next_number
from bot.domain.privacy import mask_name, mask_text  # noqa: F401 - orders.mask_name is imported by callers
from bot.domain.vocabulary import RATING_SCALE
from bot.events.intake import resident
from bot.notify.outbox import enqueue
from bot.orders import services_menu
from bot.orders.services_menu import Service
from bot.places.routing import grid_by_location, grid_by_text
from settings import get_settings

STATUS_LABELS = {
    "requested": "待派单",
    "offered": "抢单中",
    "assigned": "已派单",
    "accepted": "服务中",
    "completed": "已完成",
    "rated": "已评价",
    "cancelled": "已取消",
}
ACTION_LABELS = {
    "order": "点单",
    "offer": "推送抢单",
    "assign": "派单",
    "accept": "接单",
    "timeout": "超时退回",
    "give_back": "退单",
    "complete": "完成",
    "rate": "评单",
    "place": "补充地点",
    "photo": "上传照片",
    "note": "备注",
    "cancel": "取消",
}
OPEN = ("requested", "offered", "assigned", "accepted")
DONE = ("completed", "rated")
# (from, action) → to.  Self-loops record notes without changing state.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("requested", "offer"): "offered",
    ("requested", "assign"): "assigned",
    ("offered", "offer"): "offered",  # re-offered to more volunteers
    ("offered", "assign"): "assigned",
    ("offered", "accept"): "accepted",  # 抢单: the first acceptance wins
    ("offered", "timeout"): "requested",
    ("assigned", "assign"): "assigned",
    ("assigned", "accept"): "accepted",
    ("assigned", "timeout"): "requested",
    ("assigned", "give_back"): "requested",
    ("accepted", "assign"): "assigned",
    ("accepted", "give_back"): "requested",
    ("accepted", "complete"): "completed",
    ("completed", "rate"): "rated",
    **{(s, "place"): s for s in ("requested",)},
    **{(s, "photo"): s for s in ("accepted", "completed", "rated")},
    **{(s, "note"): s for s in STATUS_LABELS},
    **{(s, "cancel"): "cancelled" for s in OPEN},
}
SHOWN_RATINGS = ("satisfied", "basic")
HALF_HOUR = timedelta(minutes=30)


class IllegalTransition(ValueError):
    """The action is not allowed in the order's current state; nothing was changed."""

    def __init__(self, order: Order, action: str):
        self.status, self.action = order.status, action
        label = STATUS_LABELS.get(order.status, order.status)
        super().__init__(f"服务单 {order.number} 当前状态为「{label}」，不能{ACTION_LABELS.get(action, action)}")


class Taken(IllegalTransition):
    """抢单 lost: another volunteer accepted the order first (or it was reassigned, withdrawn, cancelled)."""

    def __init__(self, order: Order, action: str = "accept"):
        super().__init__(order, action)
        self.args = (f"手慢了，服务单 {order.number} 已被其他志愿者接单。",)


class NotYours(PermissionError):
    """The order was not offered or assigned to this volunteer (or does not exist: the same answer)."""


@dataclass
class Created:
    order: Order
    created: bool  # False when a WeChat retry found the order its first delivery created
    offered: list[Worker]
    needs_place: bool


# -- the state machine --

def can(order: Order, action: str) -> bool:
    return (order.status, action) in TRANSITIONS


def transition(session: Session, order: Order, action: str, *, actor: str, actor_name: str = "", note: str = "",
               values: dict | None = None) -> OrderEntry:
    """Apply `action` if the order is still in the status this object shows (compare-and-set), set `values`
    in the same UPDATE, and append the timeline row in the caller's transaction."""
    target = TRANSITIONS.get((order.status, action))
    if target is None:
        raise IllegalTransition(order, action)
    session.flush()
    now = utcnow()
    changes = {"status": target, "updated_at": now, **(values or {})}
    result = session.execute(
        update(Order).where(Order.id == order.id, Order.status == order.status).values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(order)
        raise (Taken if action == "accept" else IllegalTransition)(order, action)
    entry = OrderEntry(order_id=order.id, at=now, actor=actor, actor_name=actor_name, action=action,
                       from_status=order.status, to_status=target, note=note[:1000])
    for key, value in changes.items():
        set_committed_value(order, key, value)
    session.add(entry)
    order.timeline.append(entry)
    session.flush()
    return entry


def _relate(session: Session, order: Order) -> None:
    """Reload relationships whose foreign keys a compare-and-set UPDATE changed."""
    session.refresh(order, ["volunteer", "grid"])


# -- queries --

def by_number(session: Session, number: str) -> Order | None:
    return session.scalar(select(Order).where(Order.number == number.upper()))


def own_order(session: Session, openid: str, number: str) -> Order | None:
    return session.scalar(select(Order).join(Resident, Order.resident_id == Resident.id)
                          .where(Resident.openid == openid, Order.number == number.upper()))


def resident_orders(session: Session, openid: str, limit: int = 5) -> list[Order]:
    return list(session.scalars(select(Order).join(Resident, Order.resident_id == Resident.id)
                                .where(Resident.openid == openid).order_by(Order.id.desc()).limit(limit)))


def latest_open_order(session: Session, openid: str) -> Order | None:
    return session.scalar(select(Order).join(Resident, Order.resident_id == Resident.id)
                          .where(Resident.openid == openid, Order.status.in_(OPEN))
                          .order_by(Order.id.desc()).limit(1))


def rateable(session: Session, openid: str, number: str | None = None) -> Order | None:
    """The resident's completed order awaiting their rating: the numbered one, or the most recent."""
    query = select(Order).join(Resident, Order.resident_id == Resident.id) \
        .where(Resident.openid == openid, Order.status == "completed")
    if number:
        query = query.where(Order.number == number.upper())
    return session.scalar(query.order_by(Order.completed_at.desc(), Order.id.desc()).limit(1))


def _offered_to(volunteer: Worker):
    return select(OrderOffer.order_id).where(OrderOffer.volunteer_id == volunteer.id)


def volunteer_orders(session: Session, volunteer: Worker, statuses=(*OPEN, *DONE), limit: int = 10) -> list[Order]:
    """Orders assigned to or accepted by the volunteer, and those offered to them still up for grabs."""
    mine = Order.volunteer_id == volunteer.id
    grabbable = (Order.status == "offered") & Order.id.in_(_offered_to(volunteer))
    return list(session.scalars(
        select(Order).where(or_(mine, grabbable), Order.status.in_(statuses))
        .order_by(Order.updated_at.desc(), Order.id.desc()).limit(limit)
    ))


def volunteer_order(session: Session, volunteer: Worker, number: str | None, statuses) -> Order:
    """The numbered order if it is the volunteer's (or offered to them); else their most recent one."""
    if number:
        order = by_number(session, number)
        if order is None:
            raise NotYours(number)
        offered = session.scalar(select(OrderOffer.id).where(OrderOffer.order_id == order.id,
                                                             OrderOffer.volunteer_id == volunteer.id))
        if order.volunteer_id != volunteer.id and offered is None:
            raise NotYours(number)
        return order
    found = volunteer_orders(session, volunteer, statuses, limit=1)
    if not found:
        raise NotYours("")
    return found[0]


def totals(session: Session, volunteer: Worker) -> tuple[float, float, int]:
    """(hours, points, services) credited to the volunteer in the ledger."""
    hours, points, count = session.execute(
        select(func.coalesce(func.sum(PointsEntry.hours), 0.0), func.coalesce(func.sum(PointsEntry.points), 0.0),
               func.count(PointsEntry.id)).where(PointsEntry.volunteer_id == volunteer.id)
    ).one()
    return float(hours), float(points), int(count)


def showcase(session: Session, limit: int = 60) -> list[Order]:
    """晒单: rated (满意 / 基本满意) services whose resident did not opt out, newest first."""
    return list(session.scalars(
        select(Order).where(Order.status == "rated", Order.rating.in_(SHOWN_RATINGS), Order.public.is_(True))
        .order_by(Order.completed_at.desc(), Order.id.desc()).limit(limit)
    ))


def matching_volunteers(session: Session, order: Order, exclude: tuple[int, ...] = ()) -> list[Worker]:
    """Bound, active volunteers with a skill for the service, in the order's grid — or, when the grid has
    none, anywhere in its community (a community's volunteer team serves all its grids)."""
    service = services_menu.by_name(order.service)
    if service is None or order.grid is None:
        return []
    able = [w for w in session.scalars(
        select(Worker).where(Worker.role == "volunteer", Worker.active.is_(True), Worker.openid.is_not(None))
        .order_by(Worker.id)
    ) if w.id not in exclude and services_menu.can_do(service, w.skills)]
    same = [w for w in able if w.grid_id == order.grid_id]
    if same:
        return same
    community = order.grid.ancestor("community")
    if community is None:
        return []
    return [w for w in able if w.grid is not None and (w.grid.ancestor("community") or w.grid).id == community.id]


# -- pushes (the outbox delivers them) --

def _step(order: Order) -> int:
    """Which change a push belongs to: the id of the order's latest timeline row (unique per change, so a
    retried request cannot push twice and two changes never share a key)."""
    return max((entry.id or 0 for entry in order.timeline), default=0)


def _push(session: Session, openid: str | None, text: str, order: Order, kind: str) -> None:
    if openid:
        enqueue(session, openid, text, dedup_key=f"order:{order.number}:{kind}:{_step(order)}:{openid}")


def _tell_resident(session: Session, order: Order, text: str, kind: str) -> None:
    person = order.resident
    if person is not None and person.subscribed:
        _push(session, person.openid, text, order, kind)


def _tell_dispatchers(session: Session, order: Order, text: str, kind: str) -> None:
    for openid in filter(None, (o.strip() for o in get_settings().dispatcher_openids.split(","))):
        _push(session, openid, text, order, kind)


def place_of(order: Order) -> str:
    return order.place_text or (order.grid.full_name if order.grid else "未提供")


def _order_text(order: Order, title: str, *, full: bool) -> str:
    note = mask_text(order.note, keep_contacts=full)  # the assigned volunteer calls the resident
    lines = [f"【{title}】{order.number}", f"服务：{order.service}", f"地点：{place_of(order)}"]
    if note:
        lines.append(f"说明：{note[:200]}")
    return "\n".join(lines)


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
    entry = OrderEntry(order_id=order.id, at=now, actor="resident", action="order", from_status=None,
                       to_status="requested", note=f"{service.name}：{note}".rstrip("：")[:1000])
    session.add(entry)
    order.timeline.append(entry)
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
        _tell_dispatchers(session, order, _order_text(order, "新服务单·待派单", full=True), "dispatch")
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
        _tell_dispatchers(session, order, _order_text(order, "服务单·待派单", full=True), "dispatch")
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
        text = _order_text(order, "抢单", full=False) + f"\n回复「抢单 {order.number}」接单，先到先得。"
        _push(session, volunteer.openid, text, order, "offer")
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
    _relate(session, order)
    text = _order_text(order, "派单", full=True) + \
        f"\n回复「接单 {order.number}」确认接单，不便请回复「退单 {order.number}」。"
    _push(session, volunteer.openid, text, order, "assign")
    if previous is not None:
        _push(session, previous.openid, f"【改派】服务单 {order.number} 已由调度员改派他人，无需再服务。", order,
              "reassigned")


# -- 接单 / 抢单 --

def grab(session: Session, volunteer: Worker, order: Order) -> None:
    """Accept an order offered or assigned to the volunteer; the first acceptance wins (raises Taken)."""
    if order.status == "assigned" and order.volunteer_id != volunteer.id:
        raise Taken(order)
    if order.status in (*DONE, "accepted") and order.volunteer_id != volunteer.id:
        raise Taken(order)
    if order.status == "cancelled":
        raise IllegalTransition(order, "accept")
    if order.status == "requested":  # timed out or given back: the dispatcher decides now
        raise IllegalTransition(order, "accept")
    if order.status == "offered" and session.scalar(select(OrderOffer.id).where(
            OrderOffer.order_id == order.id, OrderOffer.volunteer_id == volunteer.id)) is None:
        raise NotYours(order.number)  # only the volunteers it was offered to may grab it
    now = utcnow()
    transition(session, order, "accept", actor="volunteer", actor_name=volunteer.name,
               note="抢单成功" if order.status == "offered" else "确认接单",
               values={"volunteer_id": volunteer.id, "accepted_at": now, "offer_expires_at": None})
    _relate(session, order)
    _tell_resident(session, order, f"【已接单】您的服务单 {order.number}（{order.service}）已由志愿者"
                   f"{order.volunteer.name}接单，志愿者会尽快与您联系。", "accept")
    others = session.scalars(select(Worker).join(OrderOffer, OrderOffer.volunteer_id == Worker.id)
                             .where(OrderOffer.order_id == order.id, Worker.id != volunteer.id))
    for other in others:
        _push(session, other.openid, f"【已被接单】服务单 {order.number}（{order.service}）已由其他志愿者接单，"
              "感谢您的热心！", order, "taken")


def give_back(session: Session, volunteer: Worker, order: Order, reason: str = "") -> list[Worker]:
    """退单 before the service is done: offered again to the other matching volunteers, else the dispatcher."""
    if order.volunteer_id != volunteer.id:
        raise NotYours(order.number)
    transition(session, order, "give_back", actor="volunteer", actor_name=volunteer.name, note=reason or "志愿者退单",
               values={"volunteer_id": None, "accepted_at": None, "offer_expires_at": None})
    _relate(session, order)
    return offer(session, order, exclude=(volunteer.id,))


def expire_offers(session: Session, now: datetime | None = None) -> int:
    """Offered or assigned orders nobody accepted in time go back to the dispatcher (scheduler job)."""
    now = now or utcnow()
    minutes = get_settings().order_offer_minutes
    expired = 0
    due = session.scalars(select(Order).where(Order.status.in_(("offered", "assigned")),
                                              Order.offer_expires_at <= now).order_by(Order.id).limit(200))
    for order in list(due):
        try:
            transition(session, order, "timeout", actor="system", actor_name="系统",
                       note=f"{minutes}分钟内无人接单，退回调度员派单",
                       values={"volunteer_id": None, "offer_expires_at": None})
        except IllegalTransition:
            continue  # accepted at this very moment: nothing to do
        _relate(session, order)
        _tell_dispatchers(session, order, _order_text(order, "服务单超时无人接单·请派单", full=True), "timeout")
        _tell_resident(session, order, f"【服务单】{order.number}（{order.service}）暂时无志愿者接单，"
                       "已转社区调度员为您安排，请耐心等待。", "timeout")
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
    _tell_resident(session, order, f"【服务完成】{order.number}（{order.service}）志愿者{volunteer.name}已完成服务："
                   f"{note[:200] or '已完成'}\n请评价：回复“满意”“基本满意”或“不满意 + 意见”。"
                   "服务会隐去个人信息后在“晒单”展示，如不愿公开，评价时加上“不公开”。", "complete")
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
        _tell_dispatchers(session, order, f"【服务不满意】{order.number}（{order.service}）：{comment[:200]}",
                          "unsatisfied")


def set_public(session: Session, order: Order, public: bool) -> None:
    order.public = public
    note = "居民同意晒单展示" if public else "居民选择不公开（不晒单）"
    transition(session, order, "note", actor="resident", note=note)


def cancel(session: Session, order: Order, *, actor: str, actor_name: str = "", reason: str = "") -> None:
    volunteer = order.volunteer
    transition(session, order, "cancel", actor=actor, actor_name=actor_name, note=reason or "取消服务单",
               values={"offer_expires_at": None})
    if volunteer is not None:
        _push(session, volunteer.openid, f"【服务单取消】{order.number}（{order.service}）已取消，无需再服务。", order,
              "cancel")
    if actor != "resident":
        _tell_resident(session, order, f"【服务单取消】{order.number}（{order.service}）：{reason or '已取消'}",
                       "cancel")


# -- presentation helpers shared by chat, API and the showcase --

def grid_label(grid: Grid | None) -> str:
    if grid is None:
        return ""
    community = grid.ancestor("community")
    return f"{community.name}·{grid.name}" if community is not None and community is not grid else grid.name
