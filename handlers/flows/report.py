"""The report follow-up flow: after a report, ask what is missing (where? a photo? what?), every
question skippable, and offer to follow a duplicate; then, for the dialog TTL, a location, a photo
or a short text the resident sends attaches to that event (补充), never a new event.

Entry point: `start`, called by the reports router (handlers/resident.py) after intake.report.
"""

from __future__ import annotations

import re

from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event
from bot.domain.states import IllegalTransition
from bot.events import intake
from bot.events.intake import NotFound, Reported
from handlers import texts
from handlers.filters import command, is_skip, matches, msg_type, role, text_like
from handlers.router import Context
from handlers.states import DONE, Flow, State, StatesGroup, about


class ReportFollowUp(StatesGroup):
    place = State()  # asked where
    photo = State()  # asked for a photo
    description = State()  # a photo or location came first: asked what the problem is
    follow = State()  # a duplicate was found: 关注 it or 跳过
    recent = State()  # nothing asked any more: what comes now still belongs to the event


QUESTIONS = {ReportFollowUp.place: texts.ASK_PLACE, ReportFollowUp.photo: texts.ASK_PHOTO,
             ReportFollowUp.description: texts.ASK_DESCRIPTION}
flow = Flow(ReportFollowUp, role("resident"))


def _missing(event: Event, state: State) -> bool:
    if state is ReportFollowUp.place:
        return event.grid_id is None and not event.place_text
    if state is ReportFollowUp.photo:
        return not any(a.kind == "image" for a in event.attachments)
    return not event.text


def _ask_next(ctx: Context, event: Event, pending: list[str]) -> str | None:
    """Ask the first still-missing item; with nothing left the event stays `recent`."""
    for name in pending:
        state = ReportFollowUp.by_name(name)
        if state is not None and _missing(event, state):
            rest = pending[pending.index(name) + 1:]
            ctx.enter(state, number=event.number, category=event.category, pending=rest)
            return QUESTIONS[state]
    ctx.enter(ReportFollowUp.recent, number=event.number, category=event.category, pending=[])
    return None


def start(ctx: Context, result: Reported, first_kind: str) -> str:
    event = result.event
    reply = texts.reported(ctx.session, event, result.route)
    if not result.created:
        return reply
    asking = (ReportFollowUp.description, ReportFollowUp.place, ReportFollowUp.photo) \
        if first_kind in ("image", "location") else (ReportFollowUp.place, ReportFollowUp.photo)
    pending = [s.name for s in asking]
    if result.duplicate is not None:
        dup = result.duplicate
        ctx.enter(ReportFollowUp.follow, number=event.number, category=event.category, target=dup.number,
                  pending=pending)
        return f"{reply}\n附近已有相同问题 {dup.number}（{STATUS_LABELS[dup.status]}）正在处理。" \
               "回复“关注”改为跟进该事件（本条将合并），回复“跳过”继续单独处理。"
    question = _ask_next(ctx, event, pending)
    return f"{reply}\n{question}" if question else reply


def _continue(ctx: Context, event: Event, reply: str) -> str:
    question = _ask_next(ctx, event, ctx.dialog.get("pending", []) if ctx.dialog else [])
    return "\n".join(part for part in (reply, question or DONE) if part)


def _dialog_event(ctx: Context) -> Event | None:
    try:
        event = intake.own_event(ctx.session, ctx.openid, ctx.dialog["number"])
    except NotFound:
        event = None
    if event is None or event.status in Event.FINAL_STATES:
        ctx.finish()
        return None
    return event


def new_problem(ctx: Context) -> bool:
    """The text reads as a report of another problem (or an urgent one), not as more about this one."""
    c = ctx.classification
    if c.urgent or c.intent == "service":  # a service order is never more about a report
        return True
    return c.intent == "report" and c.category not in ("other", (ctx.dialog or {}).get("category")) \
        and len(ctx.text) >= 6


def about_this(ctx: Context) -> bool:
    return text_like(ctx) and not new_problem(ctx)


@flow.at(ReportFollowUp.follow, command("关注", "跟进", "好的", "好"))
def follow_existing(ctx: Context) -> str:
    event, target_number = _dialog_event(ctx), ctx.dialog["target"]
    ctx.finish()
    target = intake.open_event(ctx.session, target_number)
    if event is None or target is None:
        return "该事件已处理完毕，您的反映将单独处理。"
    intake.follow(ctx.session, ctx.openid, event, target)
    return f"已将 {event.number} 合并到 {target.number}，您将收到它的处理进展，结案后也可以评价。"


@flow.at((ReportFollowUp.place, ReportFollowUp.photo, ReportFollowUp.description, ReportFollowUp.follow),
         msg_type("text"), lambda ctx: is_skip(ctx.text))
@about(_dialog_event)
def skip(ctx: Context, event: Event) -> str:
    return _continue(ctx, event, "")


@flow.at((ReportFollowUp.place, ReportFollowUp.recent), msg_type("location"))
@about(_dialog_event)
def place_by_location(ctx: Context, event: Event) -> str:
    m = ctx.incoming
    if ctx.in_state(ReportFollowUp.recent) and (event.grid_id is not None or event.place_text):
        intake.supplement(ctx.session, ctx.openid, event.number, f"位置：{m.label or f'{m.lat:.5f},{m.lng:.5f}'}")
        return f"位置已补充到事件 {event.number}，处理人员会看到。"
    routed = intake.set_place(ctx.session, event, lat=m.lat, lng=m.lng, label=m.label)
    return _continue(ctx, event, texts.rerouted(event, routed))


@flow.at(ReportFollowUp.place, about_this)
@about(_dialog_event)
def place_by_text(ctx: Context, event: Event) -> str:
    routed = intake.set_place(ctx.session, event, text=ctx.text)
    return _continue(ctx, event, texts.rerouted(event, routed))


@flow.at(ReportFollowUp.description, text_like)
@about(_dialog_event)
def description(ctx: Context, event: Event) -> str:
    intake.describe(ctx.session, event, ctx.text)
    return _continue(ctx, event, f"已记录。事件 {event.number}，类别：{texts.category_text(event)}")


@flow.at((ReportFollowUp.photo, ReportFollowUp.place, ReportFollowUp.description, ReportFollowUp.recent,
          ReportFollowUp.follow), msg_type("image"))
@about(_dialog_event)
def photo_for_event(ctx: Context, event: Event) -> str:
    intake.add_photo(ctx.session, event, media_id=ctx.incoming.media_id, pic_url=ctx.incoming.pic_url,
                     actor="resident")
    pending = [p for p in (ctx.dialog.get("pending") or []) if p != ReportFollowUp.photo.name]
    current = ReportFollowUp.by_name(ctx.dialog["state"])
    if current in (ReportFollowUp.place, ReportFollowUp.description):
        pending = [current.name, *pending]  # the question asked is still open
    ctx.dialog["pending"] = pending
    return _continue(ctx, event, f"照片已补充到事件 {event.number}。")


# 跳过 too: a resident who skipped the questions often skips once more; it is no 补充
ACKNOWLEDGED = re.compile(r"^\s*(好的?|好吧|谢谢(你们?)?|多谢|收到|知道了|嗯+|ok|OK|行|可以|跳过|略过|不用了?|没有了?)"
                          r"[。！!~～]*\s*$")


@flow.at((ReportFollowUp.photo, ReportFollowUp.recent), matches(ACKNOWLEDGED.pattern))
def acknowledged(ctx: Context) -> str:
    """好的 / 谢谢 / 跳过 after a report is no 补充: it is just acknowledged."""
    return "不客气，处理进展会通过公众号通知您。" if "谢" in ctx.text else DONE


@flow.at((ReportFollowUp.photo, ReportFollowUp.recent), about_this)
@about(_dialog_event)
def more_words(ctx: Context, event: Event) -> str:
    """A short text right after the report is more about it (补充), not a second event."""
    try:
        intake.supplement(ctx.session, ctx.openid, event.number, ctx.text)
    except IllegalTransition as exc:
        ctx.finish()
        return str(exc)
    reply = f"已补充到事件 {event.number}，处理人员会看到。如果这是另一个问题，请发送“报事 问题描述”。"
    if ctx.in_state(ReportFollowUp.photo):
        return _continue(ctx, event, reply)
    return reply
