"""Who is told what when an event changes: push texts composed here, queued in the outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

import nlp
from bot.domain.models import Event
from bot.domain.vocabulary import local_text
from bot.notify.outbox import enqueue


def _step(event: Event) -> int:
    """Which change of the event a push belongs to: its last transition time, in microseconds."""
    return int(event.updated_at.timestamp() * 1_000_000)


def summary(event: Event, limit: int = 60) -> str:
    text = " ".join(event.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def limits_lines(event: Event) -> list[str]:
    """响应/办结时限 of the event's current round, as residents and workers are told them."""
    lines = []
    if event.respond_due_at is not None and event.accepted_at is None:
        lines.append(f"响应时限：{local_text(event.respond_due_at)} 前接单")
    if event.resolve_due_at is not None and event.completed_at is None:
        lines.append(f"办结时限：{local_text(event.resolve_due_at)} 前")
    return lines


def task_text(event: Event, title: str, *, accept: bool = True) -> str:
    place = event.place_text or (event.grid.full_name if event.grid else "未知地点（已请居民补充）")
    lines = [
        f"【{title}】{event.number}",
        f"类别：{nlp.category_label(event.category)}{('/' + event.subcategory) if event.subcategory else ''}",
        f"地点：{place}",
        f"内容：{summary(event) or '（图片/位置报事）'}",
    ]
    photos = [a for a in event.attachments if a.kind == "image"]
    if photos:
        lines.append(f"照片：{photos[0].url or photos[0].media_id}")
    lines += limits_lines(event)
    if accept:
        lines.append(f"回复「接单 {event.number}」开始处置")
    else:
        lines.append("请在调度台处置，或电话联系居民。")
    return "\n".join(lines)


def task_assigned(session: Session, event: Event) -> None:
    worker = event.worker
    if worker is not None and worker.openid:
        enqueue(session, worker.openid, task_text(event, "新任务"), event=event,
                dedup_key=f"task:{event.number}:{worker.id}:{_step(event)}", digest=("新任务", event.number))


def resident_supplemented(session: Session, event: Event, text: str) -> None:
    if event.worker is not None and event.worker.openid and event.status in Event.WORKING_STATES:
        enqueue(session, event.worker.openid, f"【居民补充】{event.number}\n{text[:300]}", event_id=event.id)


def merged(session: Session, event: Event, target: Event) -> None:
    if event.worker is not None and event.worker.openid:
        enqueue(session, event.worker.openid, f"【事件合并】{event.number} 与 {target.number} 为同一问题，已合并，"
                f"请按 {target.number} 处置。", event_id=event.id)


def cancelled(session: Session, event: Event) -> None:
    if event.worker is not None and event.worker.openid:
        enqueue(session, event.worker.openid, f"【事件撤销】{event.number} 已由居民撤销，无需处置。",
                event_id=event.id)


def audience(session: Session, event: Event) -> list[str]:
    """The reporter and every follower still subscribed: who hears about the event's progress."""
    from bot.domain.models import Follower, Resident

    people = [event.reporter] if event.reporter is not None else []
    people += [f.resident for f in session.scalars(select(Follower).where(Follower.event_id == event.id))]
    seen, openids = set(), []
    for person in people:
        if isinstance(person, Resident) and person.subscribed and not person.openid.startswith("open311:") \
                and person.openid not in seen:
            seen.add(person.openid)
            openids.append(person.openid)
    return openids


def tell_residents(session: Session, event: Event, text: str, kind: str) -> None:
    # The event's last change time makes the key unique per change: a retried request cannot push twice.
    step = _step(event)
    for openid in audience(session, event):
        enqueue(session, openid, text, event_id=event.id, dedup_key=f"res:{event.number}:{kind}:{step}:{openid}")


RATE_PROMPT = "请对处理结果评价：回复“满意”“基本满意”或“不满意 + 意见”。"


def accepted(session: Session, event: Event) -> None:
    who = event.worker.name if event.worker else "工作人员"
    tell_residents(session, event, f"【已受理】您反映的事件 {event.number} 已由网格员{who}接单，正在处置。",
                   "accept")


def progress(session: Session, event: Event, note: str, photo: str | None = None) -> None:
    text = f"【处置进展】{event.number}\n{note[:300]}" + (f"\n现场照片：{photo}" if photo else "")
    tell_residents(session, event, text, "progress")


def completed(session: Session, event: Event, note: str) -> None:
    tell_residents(session, event, f"【已办结】{event.number} 处置人员已办结：{note[:200] or '已处理'}\n待核查后结案。",
                   "complete")


def closed(session: Session, event: Event) -> None:
    tell_residents(session, event, f"【已结案】{event.number} 已核查结案。\n{RATE_PROMPT}", "close")


def rejected(session: Session, event: Event, reason: str) -> None:
    tell_residents(session, event, f"【不予受理】{event.number}：{reason[:200]}", "reject")


def escalated(session: Session, event: Event, label: str) -> None:
    tell_residents(session, event, f"【升级处理】{event.number} 已上报至{label}处理。", "escalate")


def reopened(session: Session, event: Event, comment: str) -> None:
    worker = event.worker
    if worker is not None and worker.openid:
        enqueue(session, worker.openid, f"【重办】{event.number} 居民不满意：{comment[:200] or '（未填写意见）'}\n"
                f"请重新处置，回复「接单 {event.number}」。", event_id=event.id,
                dedup_key=f"reopen:{event.number}:{_step(event)}")


def message_resident(session: Session, event: Event, text: str) -> None:
    tell_residents(session, event, f"【工作人员留言】{event.number}\n{text[:500]}", "msg")
