"""The five orders (五单) for residents: 点单 and 评单, in two routers placed by handlers/dispatcher.py:

- `commands` — the menu words (点单 / 办事 / 便民服务…), 我的点单, an order's number, 取消 of an
  order, 评单 while an order awaits the rating, 不公开. Before the resident's event commands, so
  that 撤销 <order number> and an order's number mean the order.
- `in_words` — a service asked for in plain words ("想找人磨刀"), after the resident's commands
  and the dialog flows, so that it never takes their words.

The menu and the question "where?" are the service-order flow (handlers/flows/service_order.py).
"""

from __future__ import annotations

import re

from bot.domain.models import Order
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
from bot.events import ratings
from bot.orders import lifecycle, orders, present, queries, services_menu
from handlers.filters import command, matches, role, text_like
from handlers.flows.service_order import create, show_menu
from handlers.router import Context, Router

commands = Router("orders.commands", role("resident"))
in_words = Router("orders.in_words", role("resident"))
PRIVATE = re.compile(r"不要公开|别公开|不公开|不要晒单|不晒单|不要晒")
MENU_WORDS = ("便民服务", "我要点单", "点单", "办事", "服务")


def after_word(text: str, *words: str) -> tuple[str | None, str]:
    """(order number or None, the rest of the text) after the command word."""
    for word in sorted(words, key=len, reverse=True):
        if text.startswith(word):
            text = text[len(word):]
            break
    number = find_number(text)
    return number, NUMBER_IN_TEXT.sub("", text, count=1).strip(" :：,，。")


def line(order: Order) -> str:
    return f"{order.number}【{lifecycle.STATUS_LABELS[order.status]}】{order.service} · {present.place_of(order)}"


@commands.on(command(*MENU_WORDS))
def order_command(ctx: Context) -> str:
    _, rest = after_word(ctx.text, *MENU_WORDS)
    if rest:
        picked = services_menu.pick(rest)
        if picked is not None:
            return create(ctx, picked[0], picked[1])
        service = services_menu.match(rest)
        if service is not None:
            return create(ctx, service, rest)
    return show_menu(ctx, rest)


@commands.on(command("我的点单", "我的服务单", "我的预约"))
def my_orders(ctx: Context) -> str:
    items = queries.resident_orders(ctx.session, ctx.openid)
    if not items:
        return "您还没有点过服务。回复“点单”查看便民服务菜单。"
    return "您最近的服务单：\n" + "\n".join(f"{i}. {line(o)}" for i, o in enumerate(items, 1)) + \
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


@commands.on(matches(rf"^\s*{NUMBER_PATTERN}\s*$"), lambda ctx: _own_numbered(ctx) is not None)
def order_detail(ctx: Context) -> str:
    return order_detail_text(_own_numbered(ctx))


@commands.on(command("撤销", "取消"), lambda ctx: _own_numbered(ctx) is not None)
def cancel_numbered(ctx: Context) -> str:
    return _cancel(ctx, _own_numbered(ctx))


@commands.on(command("取消点单", "取消服务", "撤销点单"))
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


@commands.on(matches(RATING_REPLY.pattern), lambda ctx: _order_to_rate(ctx) is not None)
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


@commands.on(command("不公开", "不晒单", "不要公开"))
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


def _wants_service(ctx: Context) -> bool:
    """Plain words asking for a service: the classifier's `service` intent (it already told a home
    repair or a separable verb like 理个发 from a public problem). The menu item is the classifier's
    `service`; with none named the menu is shown."""
    if not text_like(ctx) or NUMBER_IN_TEXT.search(ctx.text):
        return False
    c = ctx.classification
    if c.intent != "service" or c.urgent:
        return False
    ctx.data["service"] = (services_menu.by_name(c.service) if c.service else None) or services_menu.match(ctx.text)
    return True


@in_words.on(_wants_service)
def order_in_words(ctx: Context) -> str:
    service = ctx.data["service"]
    if service is None:
        return "您是想预约便民服务吗？\n" + show_menu(ctx, ctx.text)
    return create(ctx, service, ctx.text)
