"""Resident handlers, in two routers placed apart by handlers/dispatcher.py:

- `commands` — 查询 / 我的事件 / an event number or its tail (0001), 补充, 撤销 (confirmed), 帮助,
  转人工, complaints about the handling (to the dispatcher queue), and chasers (催办). They win over
  any open dialog.
- `reports` — what is left becomes a report, unless it is too short or ambiguous to be one (then
  it is asked back); the report follow-up flow (handlers/flows/report.py) takes it from there.
"""

from __future__ import annotations

import re

from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event
from bot.domain.states import IllegalTransition
from bot.domain.vocabulary import NUMBER_IN_TEXT, NUMBER_PATTERN, find_number
from bot.events import intake, queue
from bot.events.intake import NotFound, Report
from bot.notify.notices import limits_lines
from handlers import texts
from handlers.filters import command, intent, matches, msg_type, role, text_like
from handlers.flows import report
from handlers.flows.confirmation import ask_cancel, ask_pick
from handlers.flows.human import put_through
from handlers.router import Context, Router

commands = Router("resident.commands", role("resident"))
reports = Router("resident.reports", role("resident"))

TAIL = re.compile(r"^\s*-?(\d{4})\s*$")  # "0001": the resident's own event numbered …-0001
HUMAN_WORDS = ("转人工", "人工客服", "人工服务", "找调度员", "找调度", "调度员", "人工")
CHASER = re.compile(r"(怎么|为什么|为啥)?还(没|不)(有)?人?(来|处理|管|修|到|回复)|"
                    r"什么时候(能)?(来|到|处理|修|解决|有人)|"
                    r"到底(管不管|有没有人管|什么时候)|多久(能|才|可以)|有人管吗|催(一下|办|促)|快点(来|处理)")
COMPLAINT = re.compile(r"投诉(一下)?(网格员|工作人员|处理人员|办事人员|社区|街道|你们|处理)|"
                       r"(网格员|工作人员|处理人员).{0,8}(态度|不作为|敷衍|推诿|不理|不管|乱办|骗)|"
                       r"对(处理|结果|网格员|工作人员).{0,4}不满|处理得?太(差|慢)")
ABOUT_HANDLING = re.compile(r"网格员|工作人员|处理人员|办事人员|处理结果|处理得")


def _number(ctx: Context) -> str | None:
    return find_number(ctx.text)


def _by_tail(ctx: Context, tail: str) -> Event | None:
    return next((e for e in intake.own_events(ctx.session, ctx.openid, limit=50) if e.number.endswith(f"-{tail}")),
                None)


def _named(ctx: Context, word: str) -> tuple[Event | None, str, bool]:
    """(the event the command names by number or tail, the rest of the text, whether one was named)."""
    rest = ctx.text[len(word):] if ctx.text.startswith(word) else ctx.text
    number = find_number(rest)
    if number:
        return intake.own_event(ctx.session, ctx.openid, number), NUMBER_IN_TEXT.sub("", rest).strip(" :：,，"), True
    tail = re.match(r"^\s*-?(\d{4})(?!\d)", rest)
    if tail:
        event = _by_tail(ctx, tail.group(1))
        if event is None:
            raise NotFound(tail.group(1))
        return event, rest[tail.end():].strip(" :：,，"), True
    return None, rest.strip(" :：,，"), False


def show_list(ctx: Context) -> str:
    events = intake.own_events(ctx.session, ctx.openid)
    if events:
        ask_pick(ctx, [e.number for e in events], word="")
    return texts.event_list(events) + ("\n回复序号（如 1）也可查看。" if events else "")


@commands.on(command("查询", "我的事件", "我的反映", "查看进度"))
def query(ctx: Context) -> str:
    if _number(ctx):
        return event_detail(ctx)
    return show_list(ctx)


@commands.on(matches(rf"^\s*{NUMBER_PATTERN}\s*$"))
def event_detail(ctx: Context) -> str:
    number = _number(ctx)
    try:
        return texts.event_detail(intake.own_event(ctx.session, ctx.openid, number))
    except NotFound:
        if intake.still_stored(ctx.session, ctx.openid, number):
            return texts.STORED_FIRST.format(number=number)
        return texts.NOT_FOUND


@commands.on(matches(TAIL.pattern))
def event_by_tail(ctx: Context) -> str:
    """A number's tail is the resident's own event with it, never a report."""
    event = _by_tail(ctx, TAIL.match(ctx.text).group(1))
    return texts.event_detail(event) if event is not None else texts.NOT_FOUND


@commands.on(command("补充"))
def supplement(ctx: Context) -> str:
    try:
        event, note, _ = _named(ctx, "补充")
        event = event or intake.latest_open_event(ctx.session, ctx.openid)
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


@commands.on(command("撤销", "取消"))
def cancel(ctx: Context) -> str:
    """撤销 编号 cancels at once while nobody is handling it yet; bare 撤销, or an event a worker is
    already handling, is shown and confirmed first (the worker is then told)."""
    word = "撤销" if ctx.text.startswith("撤销") else "取消"
    try:
        event, reason, named = _named(ctx, word)
    except NotFound:
        return texts.NOT_FOUND
    if named:
        if event.status not in Event.OPEN_STATES:
            return f"事件 {event.number} 当前状态为「{STATUS_LABELS[event.status]}」，不能撤销。"
        if event.status == "accepted":
            return ask_cancel(ctx, event, reason)
        try:
            intake.cancel(ctx.session, ctx.openid, event.number, reason)
        except IllegalTransition as exc:
            return str(exc)
        return f"事件 {event.number} 已撤销。"
    open_events = [e for e in intake.own_events(ctx.session, ctx.openid, limit=10) if e.status in Event.OPEN_STATES]
    if not open_events:
        return "您没有可撤销的事件。"
    if len(open_events) == 1:
        return ask_cancel(ctx, open_events[0], reason)
    ask_pick(ctx, [e.number for e in open_events], word="撤销")
    lines = [f"{i}. {e.number}【{STATUS_LABELS[e.status]}】{texts.category_text(e)}"
             for i, e in enumerate(open_events, 1)]
    return "您有多条处理中的事件，要撤销哪一条？\n" + "\n".join(lines) + "\n回复序号（如 1）或事件编号。"


@commands.on(command("帮助", "菜单", "help"))
def help_menu(ctx: Context) -> str:
    return texts.WELCOME


def _latest(ctx: Context) -> Event | None:
    events = intake.own_events(ctx.session, ctx.openid, limit=1)
    return intake.latest_open_event(ctx.session, ctx.openid) or (events[0] if events else None)


@commands.on(command(*HUMAN_WORDS))
def human(ctx: Context) -> str:
    return put_through(ctx, "human", ctx.text, intake.latest_open_event(ctx.session, ctx.openid))


def _complaint(ctx: Context) -> bool:
    """About the handling or a person handling it — not a report that happens to say 投诉
    ("投诉社区门口乱停车" is a parking report)."""
    return text_like(ctx) and bool(COMPLAINT.search(ctx.text)) and (
        ctx.classification.category == "other" or bool(ABOUT_HANDLING.search(ctx.text)))


@commands.on(_complaint)
def complaint(ctx: Context) -> str:
    """About the handling or a worker: the dispatcher queue, linked to the event, never the worker."""
    return put_through(ctx, "complaint", ctx.text, _latest(ctx))


def _chaser(ctx: Context) -> bool:
    return text_like(ctx) and bool(CHASER.search(ctx.text)) and ctx.classification.category == "other"


@commands.on(_chaser)
def chase(ctx: Context) -> str:
    event = intake.latest_open_event(ctx.session, ctx.openid)
    if event is None:
        return "您目前没有处理中的事件。如有新问题，请直接描述问题和地点。"
    chased = queue.chase(ctx.session, ctx.openid, event, ctx.text)
    handler = f"网格员{event.worker.name}" if event.worker is not None else "指挥中心调度员"
    lines = [f"您的事件 {event.number} 当前状态：{STATUS_LABELS[event.status]}，处理人：{handler}。",
             *limits_lines(event)]
    if chased.to_dispatcher:
        lines.append("已再次催办，并转调度员督促处理，调度员会尽快答复您。")
    else:
        lines.append("已为您催办，并通知处理人员尽快处置。")
    return "\n".join(lines)


# -- reports: what no command, flow or service order took --

def _reserved(ctx: Context) -> str | None:
    """The event number this message was promised when it was stored first (bot.wechat.inbox)."""
    return ctx.data.get("reserved_number")


def _report(ctx: Context) -> str:
    m = ctx.incoming
    ctx.finish()
    text = ctx.text
    if command("报事", "新问题")(ctx):
        text = re.sub(r"^\s*(报事|新问题)[\s:：，,]*", "", text)
    data = Report(openid=ctx.openid, text=text, source_key=m.key, kind=m.msg_type, pic_url=m.url,
                  media_id=m.media_id, number=_reserved(ctx),
                  first_delivery=ctx.first_delivery)  # a voice report keeps its audio
    known = ctx.classification if text == ctx.text else None  # cached: filters computed it
    return report.start(ctx, intake.report(ctx.session, data, classification=known), m.msg_type)


@reports.on(command("报事", "新问题"), lambda ctx: len(ctx.text) > 3)
def explicit_report(ctx: Context) -> str:
    return _report(ctx)


@reports.on(intent("greeting"), lambda ctx: len(ctx.text) <= 12)
def greeting(ctx: Context) -> str:
    return texts.WELCOME


@reports.on(msg_type("voice"), lambda ctx: not ctx.text)
def voice_unrecognised(ctx: Context) -> str:
    return texts.VOICE_UNCLEAR


def _unclear(ctx: Context) -> bool:
    """Too short or ambiguous to be a report: no category, short, and nothing urgent in it."""
    c = ctx.classification
    if c.urgent or c.category != "other":
        return False
    words = re.sub(r"[\W_]+", "", ctx.text)
    return len(words) < 8 or words.isdigit()


@reports.on(text_like, _unclear)
def unclear(ctx: Context) -> str:
    place = ctx.classification.place
    if place:
        return f"请问“{place}”发生了什么问题？请用一句话描述问题（如“{place}楼道灯坏了”），我们会立即受理。"
    return "请多说几句，描述一下遇到的问题和地点（如“幸福小区3栋楼道灯坏了”）。\n" + texts.WELCOME


@reports.on(msg_type("text", "voice", "link"), lambda ctx: bool(ctx.text))
def report_text(ctx: Context) -> str:
    return _report(ctx)


@reports.on(msg_type("image"))
def report_photo(ctx: Context) -> str:
    m = ctx.incoming
    data = Report(openid=ctx.openid, source_key=m.key, kind="image", media_id=m.media_id, pic_url=m.pic_url,
                  number=_reserved(ctx), first_delivery=ctx.first_delivery)
    return report.start(ctx, intake.report(ctx.session, data), "image")


@reports.on(msg_type("location"))
def report_location(ctx: Context) -> str:
    m = ctx.incoming
    data = Report(openid=ctx.openid, source_key=m.key, kind="location", lat=m.lat, lng=m.lng, label=m.label,
                  number=_reserved(ctx), first_delivery=ctx.first_delivery)
    return report.start(ctx, intake.report(ctx.session, data), "location")
