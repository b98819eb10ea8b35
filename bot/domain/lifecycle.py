"""The event lifecycle: its transition table and labels, and the only function that changes an event's
state (a compare-and-set by the shared engine in bot/domain/states.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from bot.domain import deadlines
from bot.domain.models import Event, TimelineEntry
from bot.domain.states import SHARED_ACTION_LABELS, StateMachine

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
    **SHARED_ACTION_LABELS,
    "report": "上报",
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
    "supervise": "督办",
    "urge": "催办",
}

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
    **{(s, "supplement"): s for s in (*Event.OPEN_STATES, "completed")},
    **{(s, "note"): s for s in (*Event.OPEN_STATES, *Event.RESOLVED_STATES)},
    **{(s, "urge"): s for s in Event.OPEN_STATES},  # a resident's 催办: recorded, the state stays
    ("rated", "rate"): "rated",  # a follower's rating, or a second 不满意 once the reopen is used
    **{(s, "supervise"): s for s in (*Event.OPEN_STATES, "completed")},  # a dispatcher's manual 督办
    **{(s, "cancel"): "cancelled" for s in Event.OPEN_STATES},
    **{(s, "reject"): "rejected" for s in Event.OPEN_STATES},
    **{(s, "merge"): "merged" for s in Event.OPEN_STATES},
}

EVENTS = StateMachine(noun="事件", transitions=TRANSITIONS, status_labels=STATUS_LABELS, action_labels=ACTION_LABELS,
                      entry=TimelineEntry)


def can(event: Event, action: str) -> bool:
    return EVENTS.can(event, action)


def transition(
    session: Session,
    event: Event,
    action: str,
    *,
    actor: str,
    actor_name: str = "",
    note: str = "",
    values: Mapping[str, Any] | None = None,
) -> TimelineEntry:
    """Apply `action` to `event` if nobody changed it since it was read (else ChangedFirst), and append its
    timeline row in the caller's transaction. `values` are set in the same compare-and-set (an urgent
    event's 接单 sets who took it: of several alerted workers exactly one wins)."""
    stamp = ()
    if action == "accept" and event.accepted_at is None:
        stamp = ("accepted_at",)  # the round's first 接单
    elif action == "complete":
        stamp = ("completed_at",)
    return EVENTS.apply(session, event, action, actor=actor, actor_name=actor_name, note=note,
                        values=values, stamp=stamp, after=_after)


def _after(event: Event) -> None:
    """Once the new status is written: the next supervision check of the round follows from it."""
    before = event.next_check_at
    deadlines.refresh(event)
    if event.next_check_at != before:
        flag_modified(event, "updated_at")  # the follow-up write keeps updated_at at the change's moment


def write_new(session: Session, event: Event, also=None, also_values: Mapping[str, Any] | None = None):
    """Write an event built outside the session, with its timeline so far (bot/domain/states.py);
    the rows of `also` when the same statement could read them, else None."""
    return EVENTS.insert_new(session, event, also, also_values)


def record_creation(session: Session, event: Event, *, actor: str, actor_name: str = "", note: str = ""):
    """The first timeline row: the event comes into being as `reported` (written with the event's flush)."""
    return EVENTS.record_start(session, event, "report", at=event.created_at, actor=actor, actor_name=actor_name,
                               note=note)
