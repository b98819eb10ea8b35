"""The binding flow (绑定): a grid worker or volunteer links their WeChat with the one-time code from
the admin page. `绑定 123456` binds at once; a bare `绑定` asks for the code. Works for anyone: it
is how a worker becomes one. Wrong codes are rate-limited per OpenID and across all of them."""

from __future__ import annotations

import re

from bot.events import casework
from handlers import texts
from handlers.filters import command, matches
from handlers.router import Context
from handlers.states import Flow, State, StatesGroup

BIND_FAILURES_PER_HOUR = 5
# Across all OpenIDs: a guesser with many accounts gets 5 tries each, so all of them together get
# this many wrong codes an hour before 绑定 pauses for everyone (a code has 10^6 values).
BIND_FAILURES_ALL_PER_HOUR = 50
ASK_CODE = "请发送6位绑定码（由街道或社区管理员提供），回复“取消”放弃。"


class Binding(StatesGroup):
    code = State()  # 绑定 came without a code: waiting for it


flow = Flow(Binding)


def _bind(ctx: Context, code: str) -> str:
    if ctx.store.hit_rate_limit(f"bind:{ctx.openid}", BIND_FAILURES_PER_HOUR, window=3600, count=False) or \
            ctx.store.hit_rate_limit("bind:*", BIND_FAILURES_ALL_PER_HOUR, window=3600, count=False):
        ctx.finish()
        return "绑定码错误次数过多，请1小时后再试。"
    if not re.fullmatch(r"\d{6}", code):
        return "请发送“绑定 6位绑定码”，绑定码由街道或社区管理员提供。"
    worker = casework.bind(ctx.session, ctx.openid, code)
    if worker is None:
        ctx.store.hit_rate_limit(f"bind:{ctx.openid}", BIND_FAILURES_PER_HOUR, window=3600)
        ctx.store.hit_rate_limit("bind:*", BIND_FAILURES_ALL_PER_HOUR, window=3600)
        return "绑定码无效或已过期，请向管理员重新获取。"
    ctx.finish()
    ctx.__dict__.pop("role", None)
    grid = worker.grid.full_name if worker.grid else "未分配网格"
    title = "志愿者" if worker.role == "volunteer" else "网格员"
    commands = texts.WORKER_HELP if worker.role == "grid_worker" else texts.VOLUNTEER_HELP
    return f"绑定成功！{worker.name}（{title}，{grid}）。\n{commands}"


@flow.on(command("绑定"))
def bind(ctx: Context) -> str:
    code = ctx.text[2:].strip(" :：")
    if not code:
        ctx.enter(Binding.code)
        return ASK_CODE
    return _bind(ctx, code)


@flow.at(Binding.code, command("取消", "算了"))
def give_up(ctx: Context) -> str:
    ctx.finish()
    return "已取消绑定。"


@flow.at(Binding.code, matches(r"^\s*\d{6}\s*$"))
def code(ctx: Context) -> str:
    return _bind(ctx, ctx.text.strip())
