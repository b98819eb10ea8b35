"""The service-order flow (点单): the menu is shown, the resident picks a service, and the bot asks
where when it cannot tell (skippable: the community dispatcher then arranges it).

Entry points: 点单 / 办事 / 便民服务 (handlers/orders.py), the 便民服务 menu click (handlers/common.py)
and a service asked for in plain words; they call `show_menu` or `created_reply`.
"""

from __future__ import annotations

from bot.domain.models import Order, Worker
from bot.domain.vocabulary import NUMBER_IN_TEXT
from bot.orders import orders, present, queries, services_menu
from handlers.filters import is_skip, msg_type, role, text_like
from handlers.router import Context
from handlers.states import Flow, State, StatesGroup, about

ASK_PLACE = "请问在哪个小区、楼栋？可回复“翠柳村3栋”这样的地址或发送位置；回复“跳过”由社区调度员与您联系。"


class ServiceOrder(StatesGroup):
    choosing = State()  # the menu was shown: which service?
    place = State()  # the order is made: where?


flow = Flow(ServiceOrder, role("resident"))


def show_menu(ctx: Context, note: str = "") -> str:
    ctx.enter(ServiceOrder.choosing, note=note[:500])
    return services_menu.menu_text()


def created_reply(ctx: Context, created: orders.Created) -> str:
    order = created.order
    lines = [f"已收到您的点单，服务单号：{order.number}", f"服务：{order.service}"]
    if created.needs_place:
        ctx.enter(ServiceOrder.place, number=order.number)
        return "\n".join([*lines, ASK_PLACE])
    ctx.finish()
    lines.append(f"地点：{present.place_of(order)}")
    if order.status == "offered":
        lines.append(f"已推送给附近 {len(created.offered)} 位志愿者，有人接单后会通知您。")
    elif order.status == "requested":
        lines.append("附近暂时没有可接单的志愿者，已转社区调度员为您安排。")
    lines.append("回复服务单号可查看进度。")
    return "\n".join(lines)


def create(ctx: Context, service: services_menu.Service, note: str) -> str:
    created = orders.create(ctx.session, ctx.openid, service, note, source_key=ctx.incoming.key)
    return created_reply(ctx, created)


@flow.at(ServiceOrder.choosing, text_like, lambda ctx: services_menu.pick(ctx.text) is not None)
def menu_choice(ctx: Context) -> str:
    service, rest = services_menu.pick(ctx.text)
    note = " ".join(part for part in (ctx.dialog.get("note", ""), rest) if part)
    return create(ctx, service, note)


@flow.at((ServiceOrder.choosing, ServiceOrder.place), msg_type("text"), lambda ctx: is_skip(ctx.text))
def skip(ctx: Context) -> str:
    placing = ctx.in_state(ServiceOrder.place)
    ctx.finish()
    if placing:
        return "好的，社区调度员会为您安排志愿者。"
    return "好的。需要时回复“点单”查看便民服务菜单。"


def _dialog_order(ctx: Context) -> Order | None:
    order = queries.own_order(ctx.session, ctx.openid, ctx.dialog.get("number", ""))
    if order is None or order.status != "requested":
        ctx.finish()
        return None
    return order


def _placed(ctx: Context, order: Order, offered: list[Worker]) -> str:
    ctx.finish()
    lines = [f"已记录地点：{present.place_of(order)}（服务单 {order.number}）"]
    if offered:
        lines.append(f"已推送给附近 {len(offered)} 位志愿者，有人接单后会通知您。")
    else:
        lines.append("社区调度员会为您安排志愿者。")
    return "\n".join(lines)


@flow.at(ServiceOrder.place, msg_type("location"))
@about(_dialog_order)
def place_by_location(ctx: Context, order: Order) -> str:
    m = ctx.incoming
    return _placed(ctx, order, orders.set_place(ctx.session, order, lat=m.lat, lng=m.lng, label=m.label))


@flow.at(ServiceOrder.place, text_like, lambda ctx: not NUMBER_IN_TEXT.search(ctx.text))
@about(_dialog_order)
def place_by_text(ctx: Context, order: Order) -> str:
    return _placed(ctx, order, orders.set_place(ctx.session, order, text=ctx.text))
