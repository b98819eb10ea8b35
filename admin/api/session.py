"""Logging in and out of the dispatcher API (`POST /api/login`, `/api/logout`, `GET /api/me`), the
caller's password (`POST /api/password`) and, for an unscoped admin, disabling a login
(`POST /api/users/{username}/disable`, `/enable`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from admin import auth
from admin.deps import (
    DB,
    SESSION_COOKIE,
    Actor,
    Body,
    Signed,
    Viewer,
    clear_login_cookies,
    log_in,
    set_login_cookies,
    text_field,
)
from admin.pool import run_login
from bot.core.db import session_scope
from bot.domain.models import User

router = APIRouter(prefix="/api", tags=["dispatcher"])


@router.post("/login")
async def login(request: Request, response: Response, body: Body) -> dict:
    """Log in with `username` and `password` (form or JSON); sets the session cookie. A post from
    another site's page (a foreign `Origin`) is refused, as the login form refuses it."""
    username, password = text_field(body, "username"), str(body.get("password") or "")
    name, role, token, csrf = await log_in(request, username, password)
    set_login_cookies(request, response, token, csrf)
    return {"username": name, "role": role, "csrf_token": csrf}


@router.post("/logout")
def logout(request: Request, session: DB, login: Signed) -> JSONResponse:
    """End this session (any role, with the CSRF token)."""
    auth.close_session(session, request.cookies.get(SESSION_COOKIE))
    response = JSONResponse({"ok": True})
    clear_login_cookies(response)
    return response


@router.get("/me")
def me(login: Viewer) -> dict:
    user = login.user
    return {"username": user.username, "role": user.role, "scope": user.scope.full_name if user.scope else None}


def _change_password(user_id: int, current: str, new: str, token: str | None) -> None:
    with session_scope() as session:
        try:
            auth.change_password(session, session.get(User, user_id), current, new, keep_token=token)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc


@router.post("/password")
async def change_password(request: Request, login: Signed, body: Body) -> dict:
    """`current` and `new` password: every other session of this user is logged out."""
    current, new = str(body.get("current") or ""), str(body.get("new") or "")
    await run_login(_change_password, login.user_id, current[:1024], new[:1024], request.cookies.get(SESSION_COOKIE))
    return {"ok": True}


def _admin_user(session, login, username: str) -> User:
    if login.user.role != "admin" or login.user.scope_grid_id is not None:
        raise HTTPException(403, "只有未限定辖区的管理员可以停用或启用账号")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise HTTPException(404, "未找到该账号")
    return user


@router.post("/users/{username}/disable")
def disable_user(username: str, session: DB, login: Actor) -> dict:
    """Disable a login: it cannot log in any more and its sessions end at once."""
    user = _admin_user(session, login, username)
    if user.id == login.user_id:
        raise HTTPException(400, "不能停用自己的账号")
    auth.set_active(session, user, False)
    return {"username": user.username, "active": False}


@router.post("/users/{username}/enable")
def enable_user(username: str, session: DB, login: Actor) -> dict:
    user = _admin_user(session, login, username)
    auth.set_active(session, user, True)
    return {"username": user.username, "active": True}
