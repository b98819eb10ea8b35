"""转人工 (人工客服 / 找调度员): the resident is put through to the dispatcher queue. While waiting,
what they write joins their request (not a new event); 结束 ends it. The dispatcher answers from
the admin page and the answer is pushed.

Entry point: `put_through`, called by the resident commands router (handlers/resident.py) for
转人工 and for complaints about the handling or a worker.
"""

from __future__ import annotations

from bot.domain.models import Event
from bot.events import queue
from handlers.filters import command, role, text_like
from handlers.router import Context
from handlers.states import Flow, State, StatesGroup


class HumanChat(StatesGroup):
    waiting = State()  # data: request (its id)


flow = Flow(HumanChat, role("resident"))


def put_through(ctx: Context, kind: str, text: str, event: Event | None) -> str:
    request = queue.ask(ctx.session, ctx.openid, kind, text, event)
    ctx.enter(HumanChat.waiting, request=request.id)
    about = f"（关联事件 {event.number}）" if event is not None else ""
    if kind == "complaint":
        return (f"已收到您的投诉{about}，已转调度员处理，不会转给被投诉的人员。调度员核实后会答复您。\n"
                "可继续补充情况；回复“结束”结束。")
    return f"已为您转接调度员{about}。请直接说明情况，调度员会在调度台答复您；回复“结束”结束。"


@flow.at(HumanChat.waiting, command("结束", "退出", "不用了"))
def done(ctx: Context) -> str:
    ctx.finish()
    return "好的，如需帮助随时留言。"


def _request(ctx: Context):
    """The resident's request, while still open (answered: the conversation is over)."""
    if "request" not in ctx.data:
        found = queue.open_request(ctx.session, ctx.openid)
        ctx.data["request"] = found if found is not None and found.id == ctx.dialog.get("request") else None
        if ctx.data["request"] is None:
            ctx.finish()
    return ctx.data["request"]


@flow.at(HumanChat.waiting, text_like, lambda ctx: _request(ctx) is not None)
def more(ctx: Context) -> str:
    queue.add_to(ctx.session, _request(ctx), ctx.text)
    return "已转给调度员，请耐心等待答复。"
