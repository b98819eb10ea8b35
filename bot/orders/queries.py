"""Finding service orders: a resident's, a volunteer's, the showcase's, and who may serve one."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.domain.models import Order, OrderOffer, PointsEntry, Resident, Worker
from bot.domain.ownership import numbered_or_latest
from bot.orders import services_menu
from bot.orders.present import SHOWN_RATINGS


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
                          .where(Resident.openid == openid, Order.status.in_(Order.OPEN_STATES))
                          .order_by(Order.id.desc()).limit(1))


def rateable(session: Session, openid: str, number: str | None = None) -> Order | None:
    """The resident's completed order awaiting their rating: the numbered one, or the most recent."""
    query = select(Order).join(Resident, Order.resident_id == Resident.id) \
        .where(Resident.openid == openid, Order.status == "completed")
    if number:
        query = query.where(Order.number == number.upper())
    return session.scalar(query.order_by(Order.completed_at.desc(), Order.id.desc()).limit(1))


def offered_to(session: Session, order: Order, volunteer: Worker) -> bool:
    return session.scalar(select(OrderOffer.id).where(OrderOffer.order_id == order.id,
                                                      OrderOffer.volunteer_id == volunteer.id)) is not None


def volunteer_orders(session: Session, volunteer: Worker, statuses=(*Order.OPEN_STATES, *Order.DONE_STATES),
                     limit: int = 10) -> list[Order]:
    """Orders assigned to or accepted by the volunteer, and those offered to them still up for grabs."""
    mine = Order.volunteer_id == volunteer.id
    offers = select(OrderOffer.order_id).where(OrderOffer.volunteer_id == volunteer.id)
    grabbable = (Order.status == "offered") & Order.id.in_(offers)
    return list(session.scalars(
        select(Order).where(or_(mine, grabbable), Order.status.in_(statuses))
        .order_by(Order.updated_at.desc(), Order.id.desc()).limit(limit)
    ))


def volunteer_order(session: Session, volunteer: Worker, number: str | None, statuses) -> Order:
    """The numbered order if it is the volunteer's (or offered to them); else their most recent one."""
    return numbered_or_latest(
        number, lambda n: by_number(session, n),
        lambda order: order.volunteer_id == volunteer.id or offered_to(session, order, volunteer),
        lambda: volunteer_orders(session, volunteer, statuses, limit=1))


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
