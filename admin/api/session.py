"""Logging in and out of the dispatcher API (`POST /api/login`, `/api/logout`, `GET /api/me`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from admin import auth
from admin.deps import (
    DB,
    SESSION_COOKIE,
    Actor,
    Body,
    Viewer,
    clear_login_cookies,
    log_in,
    set_login_cookies,
    text_field,
)

router = APIRouter(prefix="/api", tags=["dispatcher"])


@router.post("/login")
async def login(request: Request, response: Response, session: DB, body: Body) -> dict:
    """Log in with `username` and `password` (form or JSON); sets the session cookie."""
    username, password = text_field(body, "username"), str(body.get("password") or "")
    user, token, csrf = log_in(request, session, username, password)
    set_login_cookies(request, response, token, csrf)
    return {"username": user.username, "role": user.role, "csrf_token": csrf}


@router.post("/logout")
def logout(request: Request, session: DB, login: Actor) -> JSONResponse:
    auth.close_session(session, request.cookies.get(SESSION_COOKIE))
    response = JSONResponse({"ok": True})
    clear_login_cookies(response)
    return response


@router.get("/me")
def me(login: Viewer) -> dict:
    user = login.user
    return {"username": user.username, "role": user.role, "scope": user.scope.full_name if user.scope else None}
