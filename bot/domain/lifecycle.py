"""The event lifecycle: one transition table, and the only function that changes an event's state."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain import deadlines
from bot.domain.models import Event, TimelineEntry

STATUS_LABELS = {
    "reported": "待受理",
    "assigned": "已派单",
    "accepted": "处置中",
    "completed": "已办结",
    "closed": "已结案",
    "rated": "已评价",
    "rejected": "不予受理",
    "cancelled": "已撤销",
    "merged": "已合并",
}

ACTION_LABELS = {
    "report": "上报",
    "assign": "派单",
    "accept": "接单",
    "progress": "进展",
    "supplement": "补充",
    "complete": "办结",
    "close": "核查结案",
    "rate": "评价",
    "reopen": "重办",
    "escalate": "上报升级",
    "return": "退回",
    "reject": "不予受理",
    "cancel": "撤销",
    "merge": "合并",
    "note": "备注",
}

OPEN = ("reported", "assigned", "accepted")
# (from, action) → to.  Self-loops record notes without changing state.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("reported", "assign"): "assigned",
    ("reported", "escalate"): "reported",  # no grid yet: a higher grade, still in the dispatch queue
    ("assigned", "assign"): "assigned",
    ("assigned", "accept"): "accepted",
    ("assigned", "return"): "reported",
    ("assigned", "escalate"): "assigned",  # into the next level's queue
    ("accepted", "assign"): "assigned",
    ("accepted", "progress"): "accepted",
    ("accepted", "complete"): "completed",
    ("accepted", "return"): "reported",
    ("accepted", "escalate"): "assigned",
    ("completed", "close"): "closed",
    ("completed", "reopen"): "assigned",
    ("closed", "rate"): "rated",
    ("rated", "reopen"): "assigned",
    **{(s, "supplement"): s for s in (*OPEN, "completed")},
    **{(s, "note"): s for s in (*OPEN, "completed", "closed", "rated")},
    ("rated", "rate"): "rated",  # a follower's rating, or a second 不满意 once the reopen is used
    **{(s, "cancel"): "cancelled" for s in OPEN},
    **{(s, "reject"): "rejected" for s in OPEN},
    **{(s, "merge"): "merged" for s in OPEN},
}


class IllegalTransition(ValueError):
    """The action is not allowed in the event's current state; nothing was changed."""

    def __init__(self, event: Event, action: str):
        self.status, self.action = event.status, action
        label = STATUS_LABELS.get(event.status, event.status)
        super().__init__(f"事件 {event.number} 当前状态为「{label}」，不能{ACTION_LABELS.get(action, action)}")


def can(event: Event, action: str) -> bool:
    return (event.status, action) in TRANSITIONS


def transition(
    session: Session,
    event: Event,
    action: str,
    *,
    actor: str,
    actor_name: str = "",
    note: str = "",
) -> TimelineEntry:
    """Apply `action` to `event` and append its timeline row in the caller's transaction."""
    target = TRANSITIONS.get((event.status, action))
    if target is None:
        raise IllegalTransition(event, action)
    entry = TimelineEntry(
        event=event,
        at=utcnow(),
        actor=actor,
        actor_name=actor_name,
        action=action,
        from_status=event.status,
        to_status=target,
        note=note,
    )
    event.status = target
    event.updated_at = entry.at
    if action == "accept" and event.accepted_at is None:
        event.accepted_at = entry.at
    elif action == "complete":
        event.completed_at = entry.at
    deadlines.refresh(event)
    session.add(entry)
    session.flush()
    return entry


def record_creation(session: Session, event: Event, *, actor: str, actor_name: str = "", note: str = ""):
    """The first timeline row: the event comes into being as `reported` (written with the event's flush)."""
    entry = TimelineEntry(
        event=event, at=event.created_at, actor=actor, actor_name=actor_name,
        action="report", from_status=None, to_status=event.status, note=note,
    )
    session.add(entry)
    return entry
