"""The five orders (五单) for volunteers: 抢单/接单, 完成, 退单, 我的服务, and photos of the service.
(Residents' 点单 and 评单 are handlers/orders.py.)"""

from __future__ import annotations

from bot.domain.models import Order, Worker
from bot.domain.ownership import NotYours
from bot.domain.states import IllegalTransition
from bot.events import casework
from bot.orders import lifecycle, orders, present, queries
from handlers import texts
from handlers.common import help_and_fallback
from handlers.filters import command, msg_type, role
from handlers.orders import after_word, line
from handlers.router import Context, Router

router = Router("volunteer", role("volunteer"))

NOT_YOURS = "未找到该服务单，或它没有推送给您。回复“我的服务”查看。"


def _volunteer(ctx: Context) -> Worker:
    if "volunteer" not in ctx.data:
        ctx.data["volunteer"] = casework.worker_by_openid(ctx.session, ctx.openid)
    return ctx.data["volunteer"]


# ==== volunteers ====

def _act(ctx: Context, words: tuple[str, ...], statuses, action) -> str:
    number, note = after_word(ctx.text, *words)
    try:
        order = queries.volunteer_order(ctx.session, _volunteer(ctx), number, statuses)
    except NotYours:
        return NOT_YOURS if number else "您目前没有相关的服务单。回复“我的服务”查看。"
    try:
        return action(order, note)
    except NotYours:
        return NOT_YOURS
    except IllegalTransition as exc:
        return str(exc)


@router.on(command("抢单", "接单"))
def grab(ctx: Context) -> str:
    def run(order: Order, _note: str) -> str:
        orders.grab(ctx.session, _volunteer(ctx), order)
        lines = [f"接单成功！服务单 {order.number}", f"服务：{order.service}", f"地点：{present.place_of(order)}"]
        if order.note:
            lines.append(f"说明：{order.note[:300]}")
        lines.append(f"服务完成后回复“完成 {order.number} 备注”，可再发一张服务照片。"
                     f"不便前往请回复“退单 {order.number}”。")
        return "\n".join(lines)

    return _act(ctx, ("抢单", "接单"), Order.WAITING_STATES, run)


@router.on(command("完成"))
def complete(ctx: Context) -> str:
    def run(order: Order, note: str) -> str:
        credit = orders.complete(ctx.session, _volunteer(ctx), order, note)
        return (f"已完成服务单 {order.number}，记志愿时长 {credit.hours:g} 小时、积分 {credit.points:g}。\n"
                "可再发一张服务照片，居民评价后将在晒单展示。")

    return _act(ctx, ("完成",), Order.HELD_STATES, run)


@router.on(command("退单"))
def give_back(ctx: Context) -> str:
    def run(order: Order, reason: str) -> str:
        others = orders.give_back(ctx.session, _volunteer(ctx), order, reason)
        where = f"已重新推送给 {len(others)} 位志愿者" if others else "已转社区调度员重新安排"
        return f"已退单 {order.number}，{where}。"

    return _act(ctx, ("退单",), lifecycle.ORDERS.states_for("give_back"), run)


@router.on(msg_type("image"))
def photo(ctx: Context) -> str:
    def run(order: Order, _note: str) -> str:
        orders.attach_photo(ctx.session, _volunteer(ctx), order, ctx.incoming.media_id, ctx.incoming.pic_url)
        return f"照片已附到服务单 {order.number}。"

    reply = _act(ctx, (), lifecycle.ORDERS.states_for("photo"), run)
    return "照片已收到，但您目前没有服务单可关联。" if reply.startswith("您目前没有") else reply


@router.on(command("我的服务", "我的任务", "查询"))
def my_services(ctx: Context) -> str:
    volunteer = _volunteer(ctx)
    items = queries.volunteer_orders(ctx.session, volunteer)
    hours, points, count = queries.totals(ctx.session, volunteer)
    lines = [f"{volunteer.name}，您累计服务 {count} 次，志愿时长 {hours:g} 小时，积分 {points:g}。"]
    if items:
        lines.append("您的服务单：")
        lines += [f"{i}. {line(o)}" for i, o in enumerate(items, 1)]
    else:
        lines.append("目前没有待接或服务中的服务单。")
    return "\n".join(lines)


help_and_fallback(router, texts.VOLUNTEER_HELP)  # last: any other text gets the role's commands
