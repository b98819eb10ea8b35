"""Resident handlers: report (text, voice, photo, location, link), follow-ups, query, 补充, 撤销."""

from __future__ import annotations

from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event
from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import NUMBER_IN_TEXT, NUMBER_PATTERN, RATING_REPLY, find_number, rating_value
from bot.events import intake, ratings
from bot.events.intake import NotFound, Report
from handlers import texts
from handlers.common import about
from handlers.filters import command, dialog, intent, is_skip, matches, msg_type, role
from handlers.router import Context, Router

router = Router("resident")
resident_only = role("resident")


def _number(ctx: Context) -> str | None:
    return find_number(ctx.text)


def _target(ctx: Context) -> Event | None:
    number = _number(ctx)
    if number:
        return intake.own_event(ctx.session, ctx.openid, number)
    return intake.latest_open_event(ctx.session, ctx.openid)


def _after_number(ctx: Context, word: str) -> str:
    rest = ctx.text[len(word):] if ctx.text.startswith(word) else ctx.text
    return NUMBER_IN_TEXT.sub("", rest).strip(" :：,，")


# -- follow-up dialog: after a report, ask what is missing; every question is skippable --

def _next_question(ctx: Context, event: Event, pending: list[str]) -> str | None:
    """Ask the first still-missing item, remember the state; None when nothing is left to ask."""
    for item in pending:
        if item == "place" and event.grid_id is None and not event.place_text:
            break
        if item == "photo" and not any(a.kind == "image" for a in event.attachments):
            break
        if item == "description" and not event.text:
            break
    else:
        ctx.set_dialog(None)
        return None
    rest = pending[pending.index(item) + 1:]
    ctx.set_dialog({"state": f"awaiting_{item}", "number": event.number, "pending": rest})
    return {"place": texts.ASK_PLACE, "photo": texts.ASK_PHOTO, "description": texts.ASK_DESCRIPTION}[item]


def _continue(ctx: Context, event: Event, reply: str) -> str:
    question = _next_question(ctx, event, ctx.dialog.get("pending", []) if ctx.dialog else [])
    return "\n".join(part for part in (reply, question or texts.DONE) if part)


def _dialog_event(ctx: Context) -> Event | None:
    try:
        return intake.own_event(ctx.session, ctx.openid, ctx.dialog["number"])
    except NotFound:
        ctx.set_dialog(None)
        return None


def _start_report(ctx: Context, data: Report) -> str:
    known = ctx.classification if data.text and data.text == ctx.text else None  # cached: filters computed it
    result = intake.report(ctx.session, data, classification=known)
    event = result.event
    reply = texts.reported(event, result.route)
    if not result.created:
        return reply
    pending = ["description", "place", "photo"] if data.kind in ("image", "location") else ["place", "photo"]
    if result.duplicate is not None:
        dup = result.duplicate
        ctx.set_dialog({"state": "awaiting_follow", "number": event.number, "target": dup.number,
                        "pending": pending})
        return f"{reply}\n附近已有相同问题 {dup.number}（{STATUS_LABELS[dup.status]}）正在处理。" \
               "回复“关注”改为跟进该事件（本条将合并），回复“跳过”继续单独处理。"
    question = _next_question(ctx, event, pending)
    return f"{reply}\n{question}" if question else reply


# -- commands first: they win over any open dialog --

@router.on(resident_only, command("查询", "我的事件", "我的反映", "查看进度"))
def query(ctx: Context) -> str:
    number = _number(ctx)
    if number:
        return event_detail(ctx)
    return texts.event_list(intake.own_events(ctx.session, ctx.openid))


@router.on(resident_only, matches(rf"^\s*{NUMBER_PATTERN}\s*$"))
def event_detail(ctx: Context) -> str:
    try:
        return texts.event_detail(intake.own_event(ctx.session, ctx.openid, _number(ctx)))
    except NotFound:
        return texts.NOT_FOUND


@router.on(resident_only, command("补充"))
def supplement(ctx: Context) -> str:
    note = _after_number(ctx, "补充")
    try:
        event = _target(ctx)
    except NotFound:
        return texts.NOT_FOUND
    if event is None:
        return "您没有处理中的事件可补充。"
    if not note:
        return f"请在“补充 {event.number}”后写上要补充的内容。"
    try:
        intake.supplement(ctx.session, ctx.openid, event.number, note)
    except IllegalTransition as exc:
        return str(exc)
    return f"已补充到事件 {event.number}，处理人员会看到。"


@router.on(resident_only, command("撤销", "取消"))
def cancel(ctx: Context) -> str:
    try:
        event = _target(ctx)
    except NotFound:
        return texts.NOT_FOUND
    if event is None:
        return "您没有可撤销的事件。"
    try:
        intake.cancel(ctx.session, ctx.openid, event.number, _after_number(ctx, "撤销"))
    except IllegalTransition as exc:
        return str(exc)
    if ctx.dialog and ctx.dialog.get("number") == event.number:
        ctx.set_dialog(None)
    return f"事件 {event.number} 已撤销。"


@router.on(resident_only, command("帮助", "菜单", "help"))
def help_menu(ctx: Context) -> str:
    return texts.WELCOME


# -- answers to the follow-up questions --

@router.on(resident_only, dialog("awaiting_follow"), command("关注", "跟进", "好的", "好"))
def follow_existing(ctx: Context) -> str:
    event, target_number = _dialog_event(ctx), ctx.dialog["target"]
    ctx.set_dialog(None)
    target = intake.open_event(ctx.session, target_number)
    if event is None or target is None:
        return "该事件已处理完毕，您的反映将单独处理。"
    intake.follow(ctx.session, ctx.openid, event, target)
    return f"已将 {event.number} 合并到 {target.number}，您将收到它的处理进展，结案后也可以评价。"


@router.on(resident_only, dialog("awaiting_place", "awaiting_photo", "awaiting_description", "awaiting_follow"),
           msg_type("text"), lambda ctx: is_skip(ctx.text))
@about(_dialog_event)
def skip(ctx: Context, event: Event) -> str:
    return _continue(ctx, event, "")


@router.on(resident_only, dialog("awaiting_place"), msg_type("location"))
@about(_dialog_event)
def place_by_location(ctx: Context, event: Event) -> str:
    m = ctx.incoming
    routed = intake.set_place(ctx.session, event, lat=m.lat, lng=m.lng, label=m.label)
    return _continue(ctx, event, texts.rerouted(event, routed))


@router.on(resident_only, dialog("awaiting_place"), msg_type("text", "voice"), lambda ctx: bool(ctx.text))
@about(_dialog_event)
def place_by_text(ctx: Context, event: Event) -> str:
    routed = intake.set_place(ctx.session, event, text=ctx.text)
    return _continue(ctx, event, texts.rerouted(event, routed))


@router.on(resident_only, dialog("awaiting_description"), msg_type("text", "voice"), lambda ctx: bool(ctx.text))
@about(_dialog_event)
def description(ctx: Context, event: Event) -> str:
    intake.describe(ctx.session, event, ctx.text)
    return _continue(ctx, event, f"已记录。事件 {event.number}，类别：{texts.category_text(event)}")


@router.on(resident_only, dialog("awaiting_photo", "awaiting_place", "awaiting_description"), msg_type("image"))
@about(_dialog_event)
def photo_for_event(ctx: Context, event: Event) -> str:
    intake.add_photo(ctx.session, event, media_id=ctx.incoming.media_id, pic_url=ctx.incoming.pic_url,
                     actor="resident")
    pending = [p for p in (ctx.dialog.get("pending") or []) if p != "photo"]
    state = ctx.dialog["state"].removeprefix("awaiting_")
    if state != "photo":
        pending = [state, *pending]
    ctx.set_dialog({**ctx.dialog, "pending": pending})
    return _continue(ctx, event, f"照片已补充到事件 {event.number}。")


# -- new reports --

@router.on(resident_only, intent("greeting"), lambda ctx: len(ctx.text) <= 12)
def greeting(ctx: Context) -> str:
    return texts.WELCOME


@router.on(resident_only, matches(RATING_REPLY.pattern))
def rate(ctx: Context) -> str:
    number, word, comment = RATING_REPLY.match(ctx.text).groups()
    event = ratings.rateable(ctx.session, ctx.openid, number)
    if event is None:
        return "您目前没有待评价的事件。事件结案后，回复“满意”“基本满意”或“不满意”即可评价。"
    outcome = ratings.rate(ctx.session, ctx.openid, event, rating_value(word), comment.strip())
    if outcome == "reopened":
        return f"很抱歉让您不满意。事件 {event.number} 已重新交办（重办），处理人员会再次处置。"
    if outcome == "flagged":
        return f"已记录您的评价。事件 {event.number} 已标记，调度中心将跟进核查。"
    return f"感谢您的评价！事件 {event.number}：{word}。"


@router.on(resident_only, msg_type("voice"), lambda ctx: not ctx.text)
def voice_unrecognised(ctx: Context) -> str:
    return texts.VOICE_UNCLEAR


@router.on(resident_only, msg_type("text", "voice"),
           lambda ctx: len(ctx.text) < 4 and ctx.classification.category == "other")
def too_short(ctx: Context) -> str:
    return "请多说几句，描述一下遇到的问题和地点。\n" + texts.WELCOME


@router.on(resident_only, msg_type("text", "voice", "link"), lambda ctx: bool(ctx.text))
def report_text(ctx: Context) -> str:
    ctx.set_dialog(None)
    m = ctx.incoming
    return _start_report(ctx, Report(openid=ctx.openid, text=ctx.text, source_key=m.key, kind=m.msg_type,
                                     pic_url=m.url, media_id=m.media_id))  # a voice report keeps its audio


@router.on(resident_only, msg_type("image"))
def report_photo(ctx: Context) -> str:
    m = ctx.incoming
    return _start_report(ctx, Report(openid=ctx.openid, source_key=m.key, kind="image",
                                     media_id=m.media_id, pic_url=m.pic_url))


@router.on(resident_only, msg_type("location"))
def report_location(ctx: Context) -> str:
    m = ctx.incoming
    return _start_report(ctx, Report(openid=ctx.openid, source_key=m.key, kind="location",
                                     lat=m.lat, lng=m.lng, label=m.label))
