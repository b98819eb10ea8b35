"""Grid workers in chat: 绑定, 我的任务, 接单, 进展, 办结, 退回, 上报, 巡查, and photos as evidence."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.lifecycle import EVENTS, STATUS_LABELS
from bot.domain.models import Event, Worker
from bot.domain.ownership import NotYours
from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import NUMBER_IN_TEXT, find_number
from bot.events import casework
from handlers import texts
from handlers.common import help_and_fallback
from handlers.filters import command, msg_type, role
from handlers.router import Context, Router

router = Router("worker")
BIND_FAILURES_PER_HOUR = 5
# Across all OpenIDs: a guesser with many accounts gets 5 tries each, so all of them together get
# this many wrong codes an hour before 绑定 pauses for everyone (a code has 10^6 values).
BIND_FAILURES_ALL_PER_HOUR = 50
worker_only = role("grid_worker")

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
    return f"{event.number}【{STATUS_LABELS[event.status]}】{texts.category_text(event)} · {place}"


# -- binding works for anyone: it is how a worker becomes one --

@router.on(command("绑定"))
def bind(ctx: Context) -> str:
    code = ctx.text[2:].strip(" :：")
    if ctx.store.hit_rate_limit(f"bind:{ctx.openid}", BIND_FAILURES_PER_HOUR, window=3600, count=False) or \
            ctx.store.hit_rate_limit("bind:*", BIND_FAILURES_ALL_PER_HOUR, window=3600, count=False):
        return "绑定码错误次数过多，请1小时后再试。"
    if not re.fullmatch(r"\d{6}", code):
        return "请发送“绑定 6位绑定码”，绑定码由街道或社区管理员提供。"
    worker = casework.bind(ctx.session, ctx.openid, code)
    if worker is None:
        ctx.store.hit_rate_limit(f"bind:{ctx.openid}", BIND_FAILURES_PER_HOUR, window=3600)
        ctx.store.hit_rate_limit("bind:*", BIND_FAILURES_ALL_PER_HOUR, window=3600)
        return "绑定码无效或已过期，请向管理员重新获取。"
    ctx.__dict__.pop("role", None)
    grid = worker.grid.full_name if worker.grid else "未分配网格"
    title = "志愿者" if worker.role == "volunteer" else "网格员"
    commands = texts.WORKER_HELP if worker.role == "grid_worker" else texts.VOLUNTEER_HELP
    return f"绑定成功！{worker.name}（{title}，{grid}）。\n{commands}"


# -- grid workers --

@router.on(worker_only, command("我的任务", "任务", "查询"))
def my_tasks(ctx: Context) -> str:
    items = casework.my_tasks(ctx.session, _worker(ctx))
    if not items:
        return "您目前没有待处置的任务。"
    lines = [f"{i}. {_line(e)}" for i, e in enumerate(items, 1)]
    return "您的任务：\n" + "\n".join(lines) + "\n回复“接单 编号”开始处置。"


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


def _casework_handler(step: Casework):
    def handle(ctx: Context) -> str:
        number, note = _args(ctx, step.word)
        try:
            event = casework.task(ctx.session, _worker(ctx), number, step.statuses)
        except NotYours:
            return NOT_YOURS if number else "您目前没有待处置的任务。"
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
    router.on(worker_only, command(_step.word))(_casework_handler(_step))


@router.on(worker_only, command("巡查上报", "巡查"))
def patrol(ctx: Context) -> str:
    _, text = _args(ctx, "巡查上报", "巡查")
    if len(text) < 4:
        return "请描述巡查发现的问题，如“巡查 幸福小区3栋门口堆放建筑垃圾”。"
    event = casework.patrol(ctx.session, _worker(ctx), text, ctx.incoming.key)
    handler = "由您处置" if event.worker_id == _worker(ctx).id else f"转{event.unit}处理"
    return f"巡查上报成功：{event.number}\n类别：{texts.category_text(event)}\n{handler}"


@router.on(worker_only, msg_type("image"))
def evidence(ctx: Context) -> str:
    try:
        event = casework.task(ctx.session, _worker(ctx), None, (*Event.WORKING_STATES, "completed"))
    except NotYours:
        return "照片已收到，但您目前没有任务可关联。"
    casework.attach_evidence(ctx.session, _worker(ctx), event, ctx.incoming.media_id, ctx.incoming.pic_url)
    return f"照片已作为佐证附到任务 {event.number}。"


help_and_fallback(router, worker_only, texts.WORKER_HELP)  # last: any other text gets the role's commands
