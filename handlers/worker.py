"""Grid workers in chat: 我的任务, 接单, 进展, 办结, 退回, 上报, 巡查, and photos as evidence.
(绑定 is the binding flow, handlers/flows/binding.py: anyone may send it.)

An urgent event may be taken (接单) by every worker it was alerted to; the first one wins. A bare
接单 or 办结 with more than one task it could mean lists them and asks which."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.lifecycle import EVENTS, STATUS_LABELS
from bot.domain.models import Event, Worker
from bot.domain.ownership import NotYours
from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import NUMBER_IN_TEXT, find_number, local_text
from bot.events import casework, urgent
from handlers import texts
from handlers.common import help_and_fallback
from handlers.filters import command, msg_type, role
from handlers.flows.confirmation import ask_pick
from handlers.router import Context, Router

router = Router("worker", role("grid_worker"))
ASK_WHICH = ("接单", "办结")  # bare, with several tasks they could mean: list them and ask

NOT_YOURS = "未找到该任务，或它不是派给您的任务。回复“我的任务”查看。"


def _worker(ctx: Context) -> Worker:
    if "worker" not in ctx.data:
        ctx.data["worker"] = casework.worker_by_openid(ctx.session, ctx.openid)
    return ctx.data["worker"]


def _args(ctx: Context, *words: str) -> tuple[str | None, str]:
    """(event number or None, the rest of the text) after the command word."""
    text = ctx.text
    for word in sorted(words, key=len, reverse=True):
        if text.startswith(word):
            text = text[len(word):]
            break
    number = find_number(text)
    rest = NUMBER_IN_TEXT.sub("", text, count=1).strip(" :：,，")
    return number, rest


def _line(event: Event) -> str:
    place = event.place_text or (event.grid.full_name if event.grid else "")
    urgent_mark = "【紧急】" if event.urgent else ""
    return f"{urgent_mark}{event.number}【{STATUS_LABELS[event.status]}】{texts.category_text(event)} · {place}"


def _deadline(event: Event) -> str:
    """The task's next deadline: 响应 until 接单, then 办结."""
    if event.accepted_at is None and event.respond_due_at is not None:
        return f"\n   响应时限：{local_text(event.respond_due_at)} 前接单"
    if event.resolve_due_at is not None:
        return f"\n   办结时限：{local_text(event.resolve_due_at)} 前"
    return ""


# -- grid workers --

@router.on(command("我的任务", "任务", "查询"))
def my_tasks(ctx: Context) -> str:
    items = _merge(urgent.open_alerts(ctx.session, _worker(ctx)), casework.my_tasks(ctx.session, _worker(ctx)))
    if not items:
        return "您目前没有待处置的任务。"
    lines = [f"{i}. {_line(e)}{_deadline(e)}" for i, e in enumerate(items, 1)]
    return "您的任务：\n" + "\n".join(lines) + "\n回复“接单 编号”开始处置。"


def _merge(*lists: list[Event]) -> list[Event]:
    seen, merged = set(), []
    for event in (e for items in lists for e in items):
        if event.id not in seen:
            seen.add(event.id)
            merged.append(event)
    return merged


@dataclass(frozen=True)
class Casework:
    """One command on a task: its word, the domain call, the reply, and what it needs."""

    word: str
    do: Callable[[Context, Worker, Event, str], object]  # (ctx, worker, task, note) → result for the reply
    reply: str  # formatted with the task's {number} and {grade} and the call's {result}
    need_note: str = ""  # asked for when the command came without a note
    statuses: tuple[str, ...] = Event.WORKING_STATES  # the tasks it may apply to


CASEWORK = (
    Casework("接单", lambda ctx, worker, event, _: casework.accept(ctx.session, worker, event),
             "已接单 {number}，已通知居民。\n处置中可回复“进展 内容”，完成后回复“办结 结果”并发送办结照片。",
             statuses=EVENTS.states_for("accept")),
    Casework("进展", lambda ctx, worker, event, note: casework.progress(ctx.session, worker, event, note),
             "进展已记录并推送给居民：{number}", "请写明进展，如“进展 {number} 已联系物业，明天更换灯泡”。"),
    Casework("办结", lambda ctx, worker, event, note: casework.complete(ctx.session, worker, event, note),
             "已办结 {number}，等待核查结案。可再发一张办结后的照片作为佐证。",
             "请写明办理结果，如“办结 {number} 已更换灯泡”。"),
    Casework("退回", lambda ctx, worker, event, note: casework.give_back(ctx.session, worker, event, note),
             "已退回 {number}，调度员将重新派单。", "退回需写明原因，如“退回 {number} 不属于本网格”。"),
    Casework("上报", lambda ctx, worker, event, note: casework.escalate(
                 ctx.session, event, actor="worker", actor_name=worker.name, reason=note),
             "已上报 {number}，升级为{grade}类，转{result}处理。", "上报需写明原因，如“上报 {number} 涉及多个部门”。"),
)


def _candidates(ctx: Context, step: Casework) -> list[Event]:
    """The tasks a bare command could mean: the worker's own (and, for 接单, urgent alerts)."""
    own = casework.my_tasks(ctx.session, _worker(ctx), step.statuses)
    return _merge(urgent.open_alerts(ctx.session, _worker(ctx)), own) if step.word == "接单" else own


def _take_urgent(ctx: Context, event: Event) -> str:
    if event.status == "accepted" and event.worker_id == _worker(ctx).id:
        return f"您已接单 {event.number}。"
    try:
        urgent.take(ctx.session, _worker(ctx), event)
    except (urgent.TakenBy, IllegalTransition) as exc:
        return str(exc)
    return (f"已接单紧急事件 {event.number}，请立即前往处置，已通知居民和其他值班人员。\n"
            f"地点：{event.place_text or (event.grid.full_name if event.grid else '未知（请电话联系居民）')}\n"
            f"处置中可回复“进展 内容”，完成后回复“办结 结果”。")


def _casework_handler(step: Casework):
    def handle(ctx: Context) -> str:
        number, note = _args(ctx, step.word)
        worker = _worker(ctx)
        if number is None and step.word in ASK_WHICH:
            items = _candidates(ctx, step)
            if len(items) > 1:
                ask_pick(ctx, [e.number for e in items], word=step.word, note=note)
                lines = [f"{i}. {_line(e)}{_deadline(e)}" for i, e in enumerate(items, 1)]
                return f"您有 {len(items)} 条任务，要{step.word}哪一条？\n" + "\n".join(lines) + \
                    "\n回复序号（如 1）或编号。"
            if items:
                number = items[0].number
        if step.word == "接单" and number:  # an urgent event: anyone alerted may take it
            found = casework.find(ctx.session, number)
            if found is not None and found.urgent and (
                    found.worker_id == worker.id or urgent.was_alerted(ctx.session, worker, found)):
                return _take_urgent(ctx, found)
        try:
            event = casework.task(ctx.session, worker, number, step.statuses)
        except NotYours:
            if number:
                return NOT_YOURS
            return "您目前没有待接单的任务。回复“我的任务”查看手上的任务。" if step.word == "接单" else \
                "您目前没有待处置的任务。"
        if step.need_note and not note:
            return step.need_note.format(number=event.number)
        try:
            result = step.do(ctx, _worker(ctx), event, note)
        except IllegalTransition as exc:
            return str(exc)
        return step.reply.format(number=event.number, grade=event.grade, result=result)

    handle.__name__ = f"casework_{step.word}"
    return handle


for _step in CASEWORK:
    router.on(command(_step.word))(_casework_handler(_step))


@router.on(command("巡查上报", "巡查"))
def patrol(ctx: Context) -> str:
    _, text = _args(ctx, "巡查上报", "巡查")
    if len(text) < 4:
        return "请描述巡查发现的问题，如“巡查 幸福小区3栋门口堆放建筑垃圾”。"
    event = casework.patrol(ctx.session, _worker(ctx), text, ctx.incoming.key)
    handler = "由您处置" if event.worker_id == _worker(ctx).id else f"转{event.unit}处理"
    return f"巡查上报成功：{event.number}\n类别：{texts.category_text(event)}\n{handler}"


@router.on(msg_type("image"))
def evidence(ctx: Context) -> str:
    try:
        event = casework.task(ctx.session, _worker(ctx), None, (*Event.WORKING_STATES, "completed"))
    except NotYours:
        return "照片已收到，但您目前没有任务可关联。"
    casework.attach_evidence(ctx.session, _worker(ctx), event, ctx.incoming.media_id, ctx.incoming.pic_url)
    return f"照片已作为佐证附到任务 {event.number}。"


help_and_fallback(router, texts.WORKER_HELP)  # last: any other text gets the role's commands
