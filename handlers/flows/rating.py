"""The rating flow (一事一评): 满意 / 基本满意 / 不满意 [+ comment] rates the resident's event just
closed (or the numbered one), before anything reads it as a report — "不满意 电梯还是坏的" is a
rating with a comment, not a new event. After a bare 不满意 the event is reopened (重办) and the
resident may say what is wrong: that answer goes to the event, not into a new one.

Entry point: `rate` (a rating word at the start of the message). Service orders are rated by the
orders router before this one (handlers/orders.py), when the rating is about an order.
"""

from __future__ import annotations

from bot.domain.models import Event
from bot.domain.vocabulary import RATING_REPLY, rating_value
from bot.events import intake, ratings
from bot.events.intake import NotFound
from handlers.filters import is_skip, matches, msg_type, role, text_like
from handlers.router import Context, Router
from handlers.states import Flow, State, StatesGroup


class Rating(StatesGroup):
    comment = State()  # 不满意 without a word: what is wrong?


entry = Router("rating", role("resident"))
flow = Flow(Rating, role("resident"))


@entry.on(matches(RATING_REPLY.pattern))
def rate(ctx: Context) -> str:
    number, word, comment = RATING_REPLY.match(ctx.text).groups()
    event = ratings.rateable(ctx.session, ctx.openid, number)
    if event is None:
        return "您目前没有待评价的事件。事件结案后，回复“满意”“基本满意”或“不满意”即可评价。"
    comment = comment.strip()
    outcome = ratings.rate(ctx.session, ctx.openid, event, rating_value(word), comment)
    if outcome == "reopened":
        if not comment:
            ctx.enter(Rating.comment, number=event.number)
            return f"很抱歉让您不满意。事件 {event.number} 已重新交办（重办），处理人员会再次处置。\n" \
                   "请说说哪里还不满意（如“电梯还是坏的”），我们转告处理人员；回复“跳过”略过。"
        return f"很抱歉让您不满意。事件 {event.number} 已重新交办（重办），处理人员会再次处置。\n" \
               f"您的意见“{comment[:60]}”已转告处理人员。"
    if outcome == "flagged":
        return f"已记录您的评价。事件 {event.number} 已标记，调度中心将跟进核查。"
    return f"感谢您的评价！事件 {event.number}：{word}。"


def _event(ctx: Context) -> Event | None:
    try:
        return intake.own_event(ctx.session, ctx.openid, ctx.dialog["number"])
    except NotFound:
        return None


@flow.at(Rating.comment, msg_type("text"), lambda ctx: is_skip(ctx.text))
def skip(ctx: Context) -> str:
    ctx.finish()
    return "好的，处理结果会通过公众号通知您。"


@flow.at(Rating.comment, text_like)
def comment(ctx: Context) -> str:
    event = _event(ctx)
    ctx.finish()
    if event is None or event.status not in (*Event.OPEN_STATES, "completed"):
        return "好的，处理结果会通过公众号通知您。"
    intake.supplement(ctx.session, ctx.openid, event.number, f"居民不满意的原因：{ctx.text}")
    return f"已将您的意见转告事件 {event.number} 的处理人员，重办结果会通知您。"
