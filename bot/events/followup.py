"""A dispatcher's follow-up on an event the clock alone does not catch: manual 督办 (supervision on
demand) and reopening after a second 不满意 (the resident's one automatic reopen is used up)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.lifecycle import transition
from bot.domain.models import Event
from bot.notify import notices
from bot.notify.outbox import enqueue
from bot.timelimits import rounds


def second_unsatisfied(event: Event) -> bool:
    """居民二次不满意: rated 不满意 again after the one reopen — a dispatcher decides what next."""
    return event.status == "rated" and event.rating == "unsatisfied" and event.reopen_count > 0


def supervise(session: Session, event: Event, *, actor_name: str, note: str = "") -> None:
    """人工督办: pushes the handling worker and flags the event 督办 (it counts in 超期督办)."""
    text = note.strip() or "请加快办理"
    transition(session, event, "supervise", actor="dispatcher", actor_name=actor_name, note=f"人工督办：{text}")
    event.overdue = True
    worker = event.worker
    if worker is not None and worker.openid:
        step = max((entry.id or 0 for entry in event.timeline), default=0)
        enqueue(session, worker.openid, f"【督办】{event.number} {notices.summary(event)}\n调度员督办：{text[:200]}\n"
                f"请尽快处置，回复「进展 {event.number} 内容」反馈。", event_id=event.id,
                dedup_key=f"supervise:{event.number}:{step}")


def reopen(session: Session, event: Event, *, actor_name: str, reason: str) -> None:
    """重办 after a second 不满意: a new round of time limits for the same worker; reason required."""
    if not reason.strip():
        raise ValueError("重新办理必须填写原因")
    if not second_unsatisfied(event):
        raise ValueError("只有居民二次不满意的已评价事件才能由调度员重新办理")
    transition(session, event, "reopen", actor="dispatcher", actor_name=actor_name, note=f"调度员重新办理：{reason}")
    event.reopen_count += 1
    event.closed_at = None
    event.flagged = False
    rounds.start_round(event, utcnow(), new_round=True)
    notices.reopened(session, event, reason)
    notices.tell_residents(session, event, f"【重新办理】您反映的 {event.number} 已由指挥中心安排重新办理："
                           f"{reason[:200]}", "reopen2")
