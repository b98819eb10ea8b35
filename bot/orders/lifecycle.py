"""The service order's lifecycle (五单: 点单 → 派单 → 接单 → 评单 → 晒单): its transition table and labels,
and the only function that changes an order's state — a compare-and-set by the shared engine in
bot/domain/states.py, so two volunteers grabbing the same order at the same moment (in any number of
processes) cannot both win: the second finds the status already changed and is told the order is taken.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.domain.models import Order, OrderEntry
from bot.domain.states import SHARED_ACTION_LABELS, ChangedFirst, StateMachine

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
    **SHARED_ACTION_LABELS,
    "order": "点单",
    "offer": "推送抢单",
    "timeout": "超时退回",
    "give_back": "退单",
    "complete": "完成",
    "rate": "评单",
    "place": "补充地点",
    "photo": "上传照片",
    "cancel": "取消",
}
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
    ("requested", "place"): "requested",
    **{(s, "photo"): s for s in ("accepted", *Order.DONE_STATES)},
    **{(s, "note"): s for s in STATUS_LABELS},
    **{(s, "cancel"): "cancelled" for s in Order.OPEN_STATES},
}


class Taken(ChangedFirst):
    """抢单 lost: another volunteer accepted the order first (or it was reassigned, withdrawn, cancelled)."""

    def __init__(self, order: Order, action: str = "accept", expected: str | None = None):
        super().__init__(f"手慢了，服务单 {order.number} 已被其他志愿者接单。", status=order.status, action=action,
                         expected=expected or order.status)


ORDERS = StateMachine(noun="服务单", transitions=TRANSITIONS, status_labels=STATUS_LABELS,
                      action_labels=ACTION_LABELS, entry=OrderEntry, lost={"accept": Taken})


def can(order: Order, action: str) -> bool:
    return ORDERS.can(order, action)


def transition(session: Session, order: Order, action: str, *, actor: str, actor_name: str = "", note: str = "",
               values: dict | None = None) -> OrderEntry:
    """Apply `action` if the order is still in the status this object shows, set `values` in the same
    UPDATE, and append the timeline row in the caller's transaction."""
    return ORDERS.apply(session, order, action, actor=actor, actor_name=actor_name, note=note[:1000], values=values)


def record_order(session: Session, order: Order, note: str) -> OrderEntry:
    """点单: the order's first timeline row, in its initial status."""
    return ORDERS.record_start(session, order, "order", at=order.created_at, actor="resident", note=note[:1000])


def relate(session: Session, order: Order) -> None:
    """Reload relationships whose foreign keys a compare-and-set UPDATE changed."""
    session.refresh(order, ["volunteer", "grid"])
