"""Confirmations: nothing irreversible happens on a bare word.

- `cancel`: bare 撤销 (or 撤销 of an event a worker is already handling) shows the event and
  waits for 确认撤销; anything else leaves the event as it is (and is read on its own).
- `pick`: a numbered list was shown (我的事件, or several open tasks for a bare 接单/办结, several
  events for a bare 撤销): a reply "1" or the number chooses from it, and the command the list
  was shown for runs on the chosen one, as if it had been sent with its number.
"""

from __future__ import annotations

import dataclasses
import re

from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import find_number
from bot.events import intake
from bot.events.intake import NotFound
from handlers.filters import command
from handlers.router import Context
from handlers.states import Flow, State, StatesGroup

PICK = re.compile(r"^\s*(?:第\s*)?(\d{1,2})\s*(?:个|条|号)?\s*$")


class Confirm(StatesGroup):
    cancel = State()  # data: number
    pick = State()  # data: numbers (the list, in order), word (the command to run), note


flow = Flow(Confirm)


def ask_cancel(ctx: Context, event, reason: str = "") -> str:
    from handlers import texts

    ctx.enter(Confirm.cancel, number=event.number, reason=reason)
    handled = "\n该事件已有处理人员在处置，撤销后将通知处理人员停止处置。" if event.status == "accepted" else ""
    return f"您要撤销以下事件吗？\n{texts.event_detail(event)}{handled}\n回复“确认撤销”撤销；回复其他内容则保留该事件。"


def ask_pick(ctx: Context, numbers: list[str], word: str, note: str = "") -> None:
    """Remember the list just shown; a reply with its index runs `word` on that item."""
    ctx.enter(Confirm.pick, numbers=numbers, word=word, note=note)


@flow.at(Confirm.cancel, command("确认撤销", "确认", "是", "是的", "确定"))
def confirm_cancel(ctx: Context) -> str:
    number, reason = ctx.dialog["number"], ctx.dialog.get("reason", "")
    ctx.finish()
    try:
        event = intake.cancel(ctx.session, ctx.openid, number, reason)
    except NotFound:
        return "未找到该事件。"
    except IllegalTransition as exc:
        return str(exc)
    told = "，已通知处理人员" if event.worker is not None else ""
    return f"事件 {event.number} 已撤销{told}。"


@flow.at(Confirm.cancel, command("不", "否", "不用", "算了", "不撤销", "保留"))
def keep(ctx: Context) -> str:
    number = ctx.dialog["number"]
    ctx.finish()
    return f"好的，事件 {number} 保留，我们会继续处理。"


def _chosen(ctx: Context) -> str | None:
    numbers = ctx.dialog.get("numbers") or []
    found = PICK.match(ctx.text)
    if found:
        index = int(found.group(1))
        return numbers[index - 1] if 1 <= index <= len(numbers) else None
    number = find_number(ctx.text)
    return number if number in numbers else None


@flow.at(Confirm.pick, lambda ctx: bool(PICK.match(ctx.text)) or _chosen(ctx) is not None)
def pick(ctx: Context) -> str | None:
    number = _chosen(ctx)
    if number is None:
        return f"请回复 1 到 {len(ctx.dialog.get('numbers') or [])} 之间的序号，或直接发送编号。"
    word, note = ctx.dialog.get("word", ""), ctx.dialog.get("note", "")
    ctx.finish()
    return _read_again(ctx, " ".join(part for part in (word, number, note) if part))


@flow.at(Confirm.pick, command("确认撤销", "确认", "确定"))
def confirm_before_choosing(ctx: Context) -> str:
    """确认 while a list is shown: nothing is chosen yet, so nothing can be confirmed."""
    word = ctx.dialog.get("word", "")
    return f"请先回复序号（如 1）或编号，选择要{word or '处理'}的那一条。"


@flow.on(command("确认撤销"))
def nothing_to_confirm(ctx: Context) -> str:
    """确认撤销 with no cancellation asked (the question timed out, or never came): say how."""
    return "当前没有等待确认的撤销。回复“撤销 编号”撤销该事件，或回复“撤销”从您的事件中选择。"


@flow.fallback()
def moved_on(ctx: Context) -> str | None:
    """Anything else while a question is open: the question is dropped (an event to cancel is kept)
    and the message is read on its own, as if nothing had been asked."""
    ctx.finish()
    return _read_again(ctx, ctx.incoming.text)


def _read_again(ctx: Context, text: str) -> str | None:
    from handlers.dispatcher import root  # the same routers, on a conversation with no open question

    again = Context(incoming=dataclasses.replace(ctx.incoming, text=text), session=ctx.session, store=ctx.store)
    return root.dispatch(again)

