"""Dispatchers' use cases (调度员 / 指挥中心): assign, escalate, close (核查结案), reject, message."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot import notify, tasks
from bot.db import utcnow
from bot.lifecycle import transition
from bot.models import Event, Worker


def assign(session: Session, event: Event, worker: Worker, *, actor_name: str, note: str = "") -> None:
    transition(session, event, "assign", actor="dispatcher", actor_name=actor_name,
               note=note or f"派至网格员{worker.name}")
    event.worker = worker
    event.unit = f"grid:{worker.grid_id}" if worker.grid_id else "dispatch"
    if event.grid is None and worker.grid is not None:
        event.grid = worker.grid
    notify.task_assigned(session, event)


def escalate(session: Session, event: Event, *, actor_name: str, reason: str) -> str:
    return tasks.escalate(session, event, actor="dispatcher", actor_name=actor_name, reason=reason)


def close(session: Session, event: Event, *, actor_name: str, note: str = "") -> None:
    transition(session, event, "close", actor="dispatcher", actor_name=actor_name, note=note or "核查结案")
    event.closed_at = utcnow()
    notify.closed(session, event)


def reject(session: Session, event: Event, *, actor_name: str, reason: str) -> None:
    if not reason.strip():
        raise ValueError("不予受理必须填写原因")
    transition(session, event, "reject", actor="dispatcher", actor_name=actor_name, note=reason)
    notify.rejected(session, event, reason)


def message(session: Session, event: Event, *, actor_name: str, text: str) -> None:
    transition(session, event, "note", actor="dispatcher", actor_name=actor_name, note=f"留言居民：{text}")
    notify.message_resident(session, event, text)
