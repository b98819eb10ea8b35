"""Events every user can trigger: follow, unfollow, menu clicks, auto-reported location, unknown types."""

from __future__ import annotations

from bot.events import intake
from bot.places.routing import grid_by_location
from handlers import texts
from handlers.filters import event, msg_type
from handlers.router import Context, Router, include

router = include(Router("common"))

MENU_REPLIES = {
    "REPORT": "请直接发送文字、语音、照片或位置描述问题，我们会立即受理并告诉您事件编号。",
    "HELP": texts.WELCOME,
}


@router.on(event("subscribe"))
def subscribed(ctx: Context) -> str:
    intake.touch_resident(ctx.session, ctx.openid)
    return texts.WELCOME


@router.on(event("unsubscribe"))
def unsubscribed(ctx: Context) -> None:
    intake.resident(ctx.session, ctx.openid).subscribed = False
    return None


@router.on(event("click"), lambda ctx: ctx.incoming.event_key in ("QUERY", "MY_EVENTS"))
def menu_query(ctx: Context) -> str:
    return texts.event_list(intake.own_events(ctx.session, ctx.openid))


@router.on(event("click"))
def menu_click(ctx: Context) -> str:
    return MENU_REPLIES.get(ctx.incoming.event_key or "", texts.WELCOME)


@router.on(event("location"))
def location_reported(ctx: Context) -> None:
    """WeChat's periodic location report: remember the resident's grid for routing, reply nothing."""
    m = ctx.incoming
    if m.lat is not None and m.lng is not None:
        grid = grid_by_location(ctx.session, m.lat, m.lng)
        if grid is not None:
            intake.resident(ctx.session, ctx.openid).grid = grid
    return None


@router.on(msg_type("event"))
def other_event(ctx: Context) -> None:
    return None  # VIEW, scancode, 订阅通知 results…: nothing to say


@router.on(msg_type("unknown", "video", "shortvideo", "file", "miniprogrampage"))
def unsupported(ctx: Context) -> str:
    return texts.UNSUPPORTED
