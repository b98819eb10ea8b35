"""Events every user can trigger: follow, unfollow, menu clicks, auto-reported location, unknown types."""

from __future__ import annotations

from bot.events import intake
from bot.orders import services_menu
from bot.places.routing import grid_by_location
from handlers import texts
from handlers.filters import command, event, msg_type
from handlers.flows.service_order import show_menu
from handlers.resident import show_list
from handlers.router import Context, Router

router = Router("common")

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
    return show_list(ctx)  # numbered: a "1" then picks from it


@router.on(event("click"), lambda ctx: ctx.incoming.event_key == "SERVICE")
def menu_service(ctx: Context) -> str:
    """便民服务: a resident is shown the menu and asked which; a volunteer gets the volunteer help."""
    if ctx.role != "resident":
        return texts.VOLUNTEER_HELP if ctx.role == "volunteer" else services_menu.menu_text()
    return show_menu(ctx)


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


def help_and_fallback(role_router: Router, help_text: str) -> None:
    """帮助/菜单 answers with the role's commands, and so does any text that no earlier handler of
    the role took: registered last on a role's router (which carries the role filter)."""

    @role_router.on(command("帮助", "菜单", "help"))
    def help_menu(ctx: Context) -> str:
        return help_text

    @role_router.on(msg_type("text", "voice"))
    def unknown_command(ctx: Context) -> str:
        return "没有识别到指令。\n" + help_text
