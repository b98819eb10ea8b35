"""Who is told what when an event changes: push texts composed here, queued in the outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

import nlp
from bot.models import Event, Grid, Worker
from bot.outbox import enqueue


def summary(event: Event, limit: int = 60) -> str:
    text = " ".join(event.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _task_text(event: Event, title: str) -> str:
    place = event.place_text or (event.grid.full_name if event.grid else "未知地点")
    lines = [
        f"【{title}】{event.number}",
        f"类别：{nlp.category_label(event.category)}{('/' + event.subcategory) if event.subcategory else ''}",
        f"地点：{place}",
        f"内容：{summary(event) or '（图片/位置报事）'}",
    ]
    photos = [a for a in event.attachments if a.kind == "image"]
    if photos:
        lines.append(f"照片：{photos[0].url or photos[0].media_id}")
    lines.append(f"回复「接单 {event.number}」开始处置")
    return "\n".join(lines)


def task_assigned(session: Session, event: Event) -> None:
    worker = event.worker
    if worker is not None and worker.openid:
        enqueue(session, worker.openid, _task_text(event, "新任务"), event_id=event.id,
                dedup_key=f"task:{event.number}:{worker.id}:{len(event.timeline)}")


def duty_list(session: Session, grid: Grid | None) -> list[Worker]:
    """Every bound grid worker of the event's community: the community duty list."""
    if grid is None:
        return []
    community = grid.ancestor("community") or grid
    ids = [community.id] + list(session.scalars(select(Grid.id).where(Grid.parent_id == community.id)))
    return list(session.scalars(
        select(Worker).where(Worker.grid_id.in_(ids), Worker.openid.is_not(None), Worker.active.is_(True))
    ))


def urgent(session: Session, event: Event) -> None:
    people = {w.id: w for w in duty_list(session, event.grid)}
    if event.worker is not None and event.worker.openid:
        people[event.worker.id] = event.worker
    for worker in people.values():
        enqueue(session, worker.openid, _task_text(event, "紧急事件·请立即处置"), event_id=event.id,
                dedup_key=f"urgent:{event.number}:{worker.id}")


def resident_supplemented(session: Session, event: Event, text: str) -> None:
    if event.worker is not None and event.worker.openid and event.status in ("assigned", "accepted"):
        enqueue(session, event.worker.openid, f"【居民补充】{event.number}\n{text[:300]}", event_id=event.id)


def cancelled(session: Session, event: Event) -> None:
    if event.worker is not None and event.worker.openid:
        enqueue(session, event.worker.openid, f"【事件撤销】{event.number} 已由居民撤销，无需处置。",
                event_id=event.id)
