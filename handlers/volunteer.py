"""The five orders (五单) in chat: residents 点单 and 评单; volunteers 抢单/接单, 完成, 退单, 我的服务.

This router runs after the worker router and before the resident router. Its resident handlers
only match what is about service orders (the menu, a service asked for in plain words, an order's
number, a rating while an order awaits one), so everything else falls through to the resident router.
"""

from __future__ import annotations

import re

from bot.domain.models import Order, Worker
from bot.domain.ownership import NotYours
from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import (
    NUMBER_IN_TEXT,
    NUMBER_PATTERN,
    RATING_LABELS,
    RATING_REPLY,
    find_number,
    local_text,
    rating_value,
)
from bot.events import casework, ratings
from bot.orders import lifecycle, orders, present, queries, services_menu
from handlers import texts
from handlers.common import about, help_and_fallback
from handlers.filters import command, dialog, is_skip, matches, msg_type, role
from handlers.router import Context, Router

router = Router("volunteer")
PRIVATE = re.compile(r"不要公开|别公开|不公开|不要晒单|不晒单|不要晒")
MENU_WORDS = ("便民服务", "我要点单", "点单", "办事", "服务")
resident_only = role("resident")
volunteer_only = role("volunteer")

NOT_YOURS = "未找到该服务单，或它没有推送给您。回复“我的服务”查看。"
ASK_PLACE = "请问在哪个小区、楼栋？可回复“翠柳村3栋”这样的地址或发送位置；回复“跳过”由社区调度员与您联系。"


def _after(text: str, *words: str) -> tuple[str | None, str]:
    """(order number or None, the rest of the text) after the command word."""
    for word in sorted(words, key=len, reverse=True):
        if text.startswith(word):
            text = text[len(word):]
            break
    number = find_number(text)
    return number, NUMBER_IN_TEXT.sub("", text, count=1).strip(" :：,，。")


def _volunteer(ctx: Context) -> Worker:
    if "volunteer" not in ctx.data:
        ctx.data["volunteer"] = casework.worker_by_openid(ctx.session, ctx.openid)
    return ctx.data["volunteer"]


def _line(order: Order) -> str:
    return f"{order.number}【{lifecycle.STATUS_LABELS[order.status]}】{order.service} · {present.place_of(order)}"


# ==== residents: 点单 ====

def _order_reply(ctx: Context, created: orders.Created) -> str:
    order = created.order
    lines = [f"已收到您的点单，服务单号：{order.number}", f"服务：{order.service}"]
    if created.needs_place:
        ctx.set_dialog({"state": "awaiting_order_place", "number": order.number})
        return "\n".join([*lines, ASK_PLACE])
    ctx.set_dialog(None)
    lines.append(f"地点：{present.place_of(order)}")
    if order.status == "offered":
        lines.append(f"已推送给附近 {len(created.offered)} 位志愿者，有人接单后会通知您。")
    elif order.status == "requested":
        lines.append("附近暂时没有可接单的志愿者，已转社区调度员为您安排。")
    lines.append("回复服务单号可查看进度。")
    return "\n".join(lines)


def _create(ctx: Context, service: services_menu.Service, note: str) -> str:
    created = orders.create(ctx.session, ctx.openid, service, note, source_key=ctx.incoming.key)
    return _order_reply(ctx, created)


def _show_menu(ctx: Context, note: str = "") -> str:
    ctx.set_dialog({"state": "awaiting_service", "note": note[:500]})
    return services_menu.menu_text()


@router.on(resident_only, dialog("awaiting_service"), msg_type("text", "voice"),
           lambda ctx: services_menu.pick(ctx.text) is not None)
def menu_choice(ctx: Context) -> str:
    service, rest = services_menu.pick(ctx.text)
    note = " ".join(part for part in (ctx.dialog.get("note", ""), rest) if part)
    return _create(ctx, service, note)


@router.on(resident_only, dialog("awaiting_service", "awaiting_order_place"), msg_type("text"),
           lambda ctx: is_skip(ctx.text))
def skip(ctx: Context) -> str:
    state = ctx.dialog
    ctx.set_dialog(None)
    if state.get("state") == "awaiting_order_place":
        return "好的，社区调度员会为您安排志愿者。"
    return "好的。需要时回复“点单”查看便民服务菜单。"


def _dialog_order(ctx: Context) -> Order | None:
    order = queries.own_order(ctx.session, ctx.openid, ctx.dialog.get("number", ""))
    if order is None or order.status != "requested":
        ctx.set_dialog(None)
        return None
    return order


def _placed(ctx: Context, order: Order, offered: list[Worker]) -> str:
    ctx.set_dialog(None)
    lines = [f"已记录地点：{present.place_of(order)}（服务单 {order.number}）"]
    if offered:
        lines.append(f"已推送给附近 {len(offered)} 位志愿者，有人接单后会通知您。")
    else:
        lines.append("社区调度员会为您安排志愿者。")
    return "\n".join(lines)


@router.on(resident_only, dialog("awaiting_order_place"), msg_type("location"))
@about(_dialog_order)
def place_by_location(ctx: Context, order: Order) -> str:
    m = ctx.incoming
    return _placed(ctx, order, orders.set_place(ctx.session, order, lat=m.lat, lng=m.lng, label=m.label))


@router.on(resident_only, dialog("awaiting_order_place"), msg_type("text", "voice"),
           lambda ctx: bool(ctx.text) and not NUMBER_IN_TEXT.search(ctx.text)
           and not command("查询", "我的事件", "我的点单", "帮助", "撤销", "取消")(ctx))
@about(_dialog_order)
def place_by_text(ctx: Context, order: Order) -> str:
    return _placed(ctx, order, orders.set_place(ctx.session, order, text=ctx.text))


@router.on(resident_only, command(*MENU_WORDS))
def order_command(ctx: Context) -> str:
    _, rest = _after(ctx.text, *MENU_WORDS)
    if rest:
        picked = services_menu.pick(rest)
        if picked is not None:
            return _create(ctx, picked[0], picked[1])
        service = services_menu.match(rest)
        if service is not None:
            return _create(ctx, service, rest)
    return _show_menu(ctx, rest)


# ==== residents: query, cancel, rate (评单), opt out (不晒单) ====

@router.on(resident_only, command("我的点单", "我的服务单", "我的预约"))
def my_orders(ctx: Context) -> str:
    items = queries.resident_orders(ctx.session, ctx.openid)
    if not items:
        return "您还没有点过服务。回复“点单”查看便民服务菜单。"
    return "您最近的服务单：\n" + "\n".join(f"{i}. {_line(o)}" for i, o in enumerate(items, 1)) + \
        "\n回复服务单号查看详情。"


def _own_numbered(ctx: Context) -> Order | None:
    number = find_number(ctx.text)
    return queries.own_order(ctx.session, ctx.openid, number) if number else None


def order_detail_text(order: Order) -> str:
    lines = [f"服务单 {order.number}【{lifecycle.STATUS_LABELS[order.status]}】", f"服务：{order.service}",
             f"地点：{present.place_of(order)}"]
    if order.note:
        lines.append(f"说明：{order.note[:80]}")
    if order.volunteer is not None:
        lines.append(f"志愿者：{order.volunteer.name}")
    if order.rating:
        lines.append(f"评价：{RATING_LABELS[order.rating]}" + ("" if order.public else "（不公开）"))
    lines.append("进展：")
    for entry in order.timeline[-5:]:
        who = entry.actor_name or {"resident": "您", "system": "系统", "dispatcher": "调度员"}.get(entry.actor, "")
        note = f"：{entry.note[:40]}" if entry.note else ""
        lines.append(f"· {local_text(entry.at)} {who} {lifecycle.ACTION_LABELS.get(entry.action, entry.action)}"
                     f"{note}")
    return "\n".join(lines)


@router.on(resident_only, matches(rf"^\s*{NUMBER_PATTERN}\s*$"), lambda ctx: _own_numbered(ctx) is not None)
def order_detail(ctx: Context) -> str:
    return order_detail_text(_own_numbered(ctx))


@router.on(resident_only, command("撤销", "取消"), lambda ctx: _own_numbered(ctx) is not None)
def cancel_numbered(ctx: Context) -> str:
    return _cancel(ctx, _own_numbered(ctx))


@router.on(resident_only, command("取消点单", "取消服务", "撤销点单"))
def cancel_latest(ctx: Context) -> str:
    number = find_number(ctx.text)
    order = queries.own_order(ctx.session, ctx.openid, number) if number else \
        queries.latest_open_order(ctx.session, ctx.openid)
    if order is None:
        return "您没有可取消的服务单。"
    return _cancel(ctx, order)


def _cancel(ctx: Context, order: Order) -> str:
    try:
        orders.cancel(ctx.session, order, actor="resident", reason="居民取消")
    except IllegalTransition as exc:
        return str(exc)
    return f"服务单 {order.number}（{order.service}）已取消。"


def _order_to_rate(ctx: Context) -> Order | None:
    """The order this rating is for — only when it is about an order: a numbered own order, or the
    resident's completed unrated order more recent than any event awaiting their rating."""
    if "rate_order" in ctx.data:
        return ctx.data["rate_order"]
    found = None
    parsed = RATING_REPLY.match(ctx.text)
    if parsed:
        number = parsed.group(1)
        if number:
            found = queries.own_order(ctx.session, ctx.openid, number)
        else:
            found = queries.rateable(ctx.session, ctx.openid)
            if found is not None:
                event = ratings.rateable(ctx.session, ctx.openid)
                event_time = (event.closed_at or event.updated_at) if event is not None else None
                if event_time is not None and event_time > found.completed_at:
                    found = None
    ctx.data["rate_order"] = found
    return found


@router.on(resident_only, matches(RATING_REPLY.pattern), lambda ctx: _order_to_rate(ctx) is not None)
def rate(ctx: Context) -> str:
    order = _order_to_rate(ctx)
    _, word, comment = RATING_REPLY.match(ctx.text).groups()
    opt_out = bool(PRIVATE.search(comment))
    comment = PRIVATE.sub("", comment).strip(" ，,。;；")
    if order.status == "rated":
        return f"服务单 {order.number} 已评价过，感谢您的反馈。"
    try:
        orders.rate(ctx.session, ctx.openid, order, rating_value(word), comment,
                    public=False if opt_out else None)
    except IllegalTransition as exc:
        return str(exc)
    if order.rating == "unsatisfied":
        return f"已记录您的评价。服务单 {order.number} 已转社区调度员跟进，我们会改进服务。"
    shown = "该服务将隐去个人信息后在“晒单”展示；如不愿公开，回复“不公开”。" if order.public else "该服务不会公开展示。"
    return f"感谢您的评价！服务单 {order.number}：{word}。\n{shown}"


@router.on(resident_only, command("不公开", "不晒单", "不要公开"))
def opt_out(ctx: Context) -> str:
    number = find_number(ctx.text)
    if number:
        order = queries.own_order(ctx.session, ctx.openid, number)
    else:
        items = [o for o in queries.resident_orders(ctx.session, ctx.openid, limit=1) if o.status in Order.DONE_STATES]
        order = items[0] if items else None
    if order is None:
        return "未找到可设置的服务单。"
    if order.public:
        orders.set_public(ctx.session, order, False)
    return f"好的，服务单 {order.number} 不会在晒单中展示。"


# -- last: a service asked for in plain words (after the commands above, e.g. 取消点单) --

_RESIDENT_COMMANDS = command("查询", "我的事件", "我的反映", "查看进度", "补充", "撤销", "取消", "帮助", "菜单", "关注",
                             "跟进")
_answering_event_question = dialog("awaiting_place", "awaiting_photo", "awaiting_description", "awaiting_follow")


def _wants_service(ctx: Context) -> bool:
    """Plain words asking for a service: the classifier's `service` intent (it already told a home
    repair or a separable verb like 理个发 from a public problem). The menu item is the classifier's
    `service`; with none named the menu is shown."""
    if not ctx.text or NUMBER_IN_TEXT.search(ctx.text) or _RESIDENT_COMMANDS(ctx) or _answering_event_question(ctx):
        return False
    c = ctx.classification
    if c.intent != "service" or c.urgent:
        return False
    ctx.data["service"] = (services_menu.by_name(c.service) if c.service else None) or services_menu.match(ctx.text)
    return True


@router.on(resident_only, msg_type("text", "voice"), _wants_service)
def order_in_words(ctx: Context) -> str:
    service = ctx.data["service"]
    if service is None:
        return "您是想预约便民服务吗？\n" + _show_menu(ctx, ctx.text)
    return _create(ctx, service, ctx.text)


# ==== volunteers ====

def _act(ctx: Context, words: tuple[str, ...], statuses, action) -> str:
    number, note = _after(ctx.text, *words)
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


@router.on(volunteer_only, command("抢单", "接单"))
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


@router.on(volunteer_only, command("完成"))
def complete(ctx: Context) -> str:
    def run(order: Order, note: str) -> str:
        credit = orders.complete(ctx.session, _volunteer(ctx), order, note)
        return (f"已完成服务单 {order.number}，记志愿时长 {credit.hours:g} 小时、积分 {credit.points:g}。\n"
                "可再发一张服务照片，居民评价后将在晒单展示。")

    return _act(ctx, ("完成",), Order.HELD_STATES, run)


@router.on(volunteer_only, command("退单"))
def give_back(ctx: Context) -> str:
    def run(order: Order, reason: str) -> str:
        others = orders.give_back(ctx.session, _volunteer(ctx), order, reason)
        where = f"已重新推送给 {len(others)} 位志愿者" if others else "已转社区调度员重新安排"
        return f"已退单 {order.number}，{where}。"

    return _act(ctx, ("退单",), lifecycle.ORDERS.states_for("give_back"), run)


@router.on(volunteer_only, msg_type("image"))
def photo(ctx: Context) -> str:
    def run(order: Order, _note: str) -> str:
        orders.attach_photo(ctx.session, _volunteer(ctx), order, ctx.incoming.media_id, ctx.incoming.pic_url)
        return f"照片已附到服务单 {order.number}。"

    reply = _act(ctx, (), lifecycle.ORDERS.states_for("photo"), run)
    return "照片已收到，但您目前没有服务单可关联。" if reply.startswith("您目前没有") else reply


@router.on(volunteer_only, command("我的服务", "我的任务", "查询"))
def my_services(ctx: Context) -> str:
    volunteer = _volunteer(ctx)
    items = queries.volunteer_orders(ctx.session, volunteer)
    hours, points, count = queries.totals(ctx.session, volunteer)
    lines = [f"{volunteer.name}，您累计服务 {count} 次，志愿时长 {hours:g} 小时，积分 {points:g}。"]
    if items:
        lines.append("您的服务单：")
        lines += [f"{i}. {_line(o)}" for i, o in enumerate(items, 1)]
    else:
        lines.append("目前没有待接或服务中的服务单。")
    return "\n".join(lines)


help_and_fallback(router, volunteer_only, texts.VOLUNTEER_HELP)  # last: any other text gets the role's commands
