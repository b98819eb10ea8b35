"""Dispatchers' use cases (调度员 / 指挥中心): assign, escalate, close (核查结案), reject, message,
change category or grade, merge duplicates."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import nlp
from bot.core.db import utcnow
from bot.domain.lifecycle import STATUS_LABELS, transition
from bot.domain.models import Event, Follower, Worker
from bot.domain.vocabulary import GRADES
from bot.events import casework
from bot.notify import notices


def assign(session: Session, event: Event, worker: Worker, *, actor_name: str, note: str = "") -> None:
    transition(session, event, "assign", actor="dispatcher", actor_name=actor_name,
               note=note or f"派至网格员{worker.name}")
    event.worker = worker
    event.unit = f"grid:{worker.grid_id}" if worker.grid_id else "dispatch"
    if event.grid is None and worker.grid is not None:
        event.grid = worker.grid
    notices.task_assigned(session, event)


def escalate(session: Session, event: Event, *, actor_name: str, reason: str) -> str:
    return casework.escalate(session, event, actor="dispatcher", actor_name=actor_name, reason=reason)


def close(session: Session, event: Event, *, actor_name: str, note: str = "") -> None:
    transition(session, event, "close", actor="dispatcher", actor_name=actor_name, note=note or "核查结案")
    event.closed_at = utcnow()
    notices.closed(session, event)


def reject(session: Session, event: Event, *, actor_name: str, reason: str) -> None:
    if not reason.strip():
        raise ValueError("不予受理必须填写原因")
    transition(session, event, "reject", actor="dispatcher", actor_name=actor_name, note=reason)
    notices.rejected(session, event, reason)


def message(session: Session, event: Event, *, actor_name: str, text: str) -> None:
    transition(session, event, "note", actor="dispatcher", actor_name=actor_name, note=f"留言居民：{text}")
    notices.message_resident(session, event, text)


def change_category(session: Session, event: Event, *, actor_name: str, category: str, subcategory: str = "") -> None:
    """A dispatcher's correction of the classifier: the new category, recorded in the timeline."""
    if not category or category not in set(nlp.CATEGORIES) | {c.code for c in nlp.classifier.get_rules().categories}:
        raise ValueError(f"未知的分类：{category}")
    old = f"{nlp.category_label(event.category)}{'/' + event.subcategory if event.subcategory else ''}"
    new = f"{nlp.category_label(category)}{'/' + subcategory if subcategory else ''}"
    transition(session, event, "note", actor="dispatcher", actor_name=actor_name, note=f"调整分类：{old} → {new}")
    event.category, event.subcategory, event.flagged = category, subcategory[:64], False


def change_grade(session: Session, event: Event, *, actor_name: str, grade: str, reason: str = "") -> None:
    """Set the grade (A–D) directly; the event stays with its current handler (escalate moves queues)."""
    grade = grade.upper()
    if grade not in GRADES:
        raise ValueError("等级应为 A、B、C 或 D")
    if grade == event.grade:
        raise ValueError(f"事件已是 {grade} 级")
    note = f"调整等级：{event.grade} → {grade}" + (f"（{reason}）" if reason else "")
    transition(session, event, "note", actor="dispatcher", actor_name=actor_name, note=note)
    event.grade = grade


def merge(session: Session, event: Event, target: Event, *, actor_name: str, note: str = "") -> None:
    """Merge a duplicate into `target`: its reporter follows the target (pushes, rating)."""
    if target.id == event.id:
        raise ValueError("不能合并到事件自身")
    if target.status in Event.FINAL_STATES:
        raise ValueError(f"目标事件 {target.number} 已{STATUS_LABELS[target.status]}，不能合并到它")
    transition(session, event, "merge", actor="dispatcher", actor_name=actor_name,
               note=f"合并至 {target.number}" + (f"：{note}" if note else ""))
    event.merged_into_id = target.id
    if event.reporter_id is not None and event.reporter_id != target.reporter_id:
        try:
            with session.begin_nested():
                session.add(Follower(event_id=target.id, resident_id=event.reporter_id))
        except IntegrityError:
            pass  # already following
    transition(session, target, "note", actor="dispatcher", actor_name=actor_name,
               note=f"重复事件 {event.number} 已合并至本事件")
    notices.merged(session, event, target)
    notices.message_resident(session, event, f"您反映的问题与事件 {target.number} 为同一问题，已合并办理，"
                                            f"后续进展将按 {target.number} 推送给您。")
