"""The dispatcher JSON API under /api/ (OpenAPI at /docs).

A logged-in client holds the `wl_session` cookie and sends the CSRF token it was given (login
response or the `wl_csrf` cookie) back in `X-CSRF-Token` on every state-changing request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import auth
from admin.present import event_json
from bot.core.db import session_scope
from bot.core.store import get_store
from bot.domain.models import Event, LoginSession, Worker
from bot.domain.states import IllegalTransition
from bot.events import dispatch
from settings import get_settings

router = APIRouter(prefix="/api", tags=["dispatcher"])
SESSION_COOKIE, CSRF_COOKIE = "wl_session", "wl_csrf"


def db() -> Iterator[Session]:
    with session_scope() as session:
        yield session


# scope="function": commit before the response goes out, so the client's next request sees the change.
DB = Annotated[Session, Depends(db, scope="function")]


async def body_fields(request: Request) -> dict[str, Any]:
    """Form or JSON body, whichever the client sent."""
    kind = request.headers.get("content-type", "")
    if "json" in kind:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise HTTPException(400, "请求体不是合法的 JSON") from exc
        if not isinstance(data, dict):
            raise HTTPException(400, "请求体应为 JSON 对象")
        return data
    if "form" in kind:
        return dict(await request.form())
    return {}


Body = Annotated[dict, Depends(body_fields)]


def current(request: Request, session: DB) -> LoginSession:
    login = auth.find_session(session, request.cookies.get(SESSION_COOKIE))
    if login is None:
        raise HTTPException(401, "请先登录")
    return login


def acting(request: Request, login: Annotated[LoginSession, Depends(current)], body: Body) -> LoginSession:
    """A state change: needs the dispatcher or admin role and the session's CSRF token."""
    presented = request.headers.get("x-csrf-token") or str(body.get("csrf_token") or "")
    if not auth.csrf_ok(login, presented):
        raise HTTPException(403, "CSRF 校验失败")
    if login.user.role not in auth.CAN_ACT:
        raise HTTPException(403, "只读账号不能操作")
    return login


Viewer = Annotated[LoginSession, Depends(current)]
Actor = Annotated[LoginSession, Depends(acting)]


def visible_event(session: Session, login: LoginSession, number: str) -> Event:
    event = session.scalar(select(Event).where(Event.number == number.upper()))
    if event is None or not auth.in_scope(login.user, event.grid):
        raise HTTPException(404, "未找到该事件")
    return event


def text_field(body: dict, *names: str, required: str | None = None) -> str:
    value = next((str(body[n]).strip() for n in names if body.get(n) not in (None, "")), "")
    if required and not value:
        raise HTTPException(400, required)
    return value[:1000]


def _act(session: Session, action, *args, **kwargs) -> None:
    try:
        action(session, *args, **kwargs)
    except IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.post("/login")
async def login(request: Request, response: Response, session: DB, body: Body) -> dict:
    """Log in with `username` and `password` (form or JSON); sets the session cookie."""
    username, password = text_field(body, "username"), str(body.get("password") or "")
    client = request.client.host if request.client else "?"
    limit = get_settings().login_attempts_per_10min
    if get_store().hit_rate_limit(f"login:{username}:{client}", limit, window=600, count=False):
        raise HTTPException(429, "登录失败次数过多，请10分钟后再试")
    user = auth.authenticate(session, username, password)
    if user is None:
        get_store().hit_rate_limit(f"login:{username}:{client}", limit, window=600)
        raise HTTPException(401, "用户名或密码错误")
    token, csrf = auth.open_session(session, user)
    secure = request.url.scheme == "https"
    max_age = get_settings().admin_session_hours * 3600
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=max_age)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="strict", secure=secure, max_age=max_age)
    return {"username": user.username, "role": user.role, "csrf_token": csrf}


@router.post("/logout")
def logout(request: Request, session: DB, login: Actor) -> JSONResponse:
    auth.close_session(session, request.cookies.get(SESSION_COOKIE))
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/me")
def me(login: Viewer) -> dict:
    user = login.user
    return {"username": user.username, "role": user.role, "scope": user.scope.full_name if user.scope else None}


@router.get("/events/{number}")
def get_event(number: str, session: DB, login: Viewer) -> dict:
    """An event with its classification explanation, attachments, ratings and full timeline."""
    event = visible_event(session, login, number)
    return event_json(session, event, show_phone=login.user.role in auth.CAN_ACT)


def pick_person(session: Session, body: dict, *, role: str, key: str, label: str) -> Worker:
    """The one active `role` named in the body by `<key>_id`, `<key>_phone` or `<key>_name` / `<key>`."""
    query = select(Worker).where(Worker.active.is_(True), Worker.role == role)
    if body.get(f"{key}_id"):
        try:
            query = query.where(Worker.id == int(body[f"{key}_id"]))
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, f"{key}_id 应为数字") from exc
    elif body.get(f"{key}_phone"):
        query = query.where(Worker.phone == str(body[f"{key}_phone"]))
    elif body.get(f"{key}_name") or body.get(key):
        query = query.where(Worker.name == str(body.get(f"{key}_name") or body.get(key)))
    else:
        raise HTTPException(400, f"请指定 {key}_id、{key}_phone 或 {key}_name")
    found = list(session.scalars(query.limit(2)))
    if len(found) != 1:
        raise HTTPException(400, f"未找到唯一的{label}")
    return found[0]


def _worker(session: Session, body: dict) -> Worker:
    # Events go to grid workers; volunteers take service orders (admin/orders_api.py).
    return pick_person(session, body, role="grid_worker", key="worker", label="处置人员")


@router.post("/events/{number}/assign")
def assign(number: str, session: DB, login: Actor, body: Body) -> dict:
    """派单 / 改派: body `worker_id` | `worker_phone` | `worker_name`, optional `note`."""
    event = visible_event(session, login, number)
    worker = _worker(session, body)
    if not auth.in_scope(login.user, worker.grid):
        raise HTTPException(403, "该处置人员不在您的管辖范围")
    _act(session, dispatch.assign, event, worker, actor_name=login.user.username, note=text_field(body, "note"))
    return event_json(session, event, show_phone=True)


@router.post("/events/{number}/escalate")
def escalate(number: str, session: DB, login: Actor, body: Body) -> dict:
    """上报升级: one grade up (A→B→C→D), into that level's queue; `reason` optional."""
    event = visible_event(session, login, number)
    _act(session, dispatch.escalate, event, actor_name=login.user.username, reason=text_field(body, "reason", "note"))
    return event_json(session, event, show_phone=True)


@router.post("/events/{number}/close")
def close(number: str, session: DB, login: Actor, body: Body) -> dict:
    """核查结案: a completed event is checked and closed; the residents are asked to rate."""
    event = visible_event(session, login, number)
    _act(session, dispatch.close, event, actor_name=login.user.username, note=text_field(body, "note"))
    return event_json(session, event, show_phone=True)


@router.post("/events/{number}/reject")
def reject(number: str, session: DB, login: Actor, body: Body) -> dict:
    """不予受理: `reason` required."""
    event = visible_event(session, login, number)
    reason = text_field(body, "reason", "note", required="不予受理必须填写原因（reason）")
    _act(session, dispatch.reject, event, actor_name=login.user.username, reason=reason)
    return event_json(session, event, show_phone=True)


@router.post("/events/{number}/message")
def message(number: str, session: DB, login: Actor, body: Body) -> dict:
    """Message the event's residents through the push outbox: `text` required."""
    event = visible_event(session, login, number)
    text = text_field(body, "text", "message", required="请填写留言内容（text）")
    _act(session, dispatch.message, event, actor_name=login.user.username, text=text)
    return event_json(session, event, show_phone=True)
