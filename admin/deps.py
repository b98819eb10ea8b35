"""What every admin router shares: the database session, the body, who is asking (and may they act),
the login cookies, scope checks on events, and how domain errors become HTTP answers.

A logged-in client holds the `wl_session` cookie and sends the CSRF token it was given (login
response or the `wl_csrf` cookie) back in `X-CSRF-Token` on every state-changing request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import auth
from admin.pool import run_login
from bot.core.db import session_scope
from bot.core.store import get_store
from bot.domain.models import Event, LoginSession, Worker
from bot.domain.privacy import for_reader
from bot.domain.states import IllegalTransition
from settings import get_settings

SESSION_COOKIE, CSRF_COOKIE = "wl_session", "wl_csrf"
LOGIN_WINDOW = 600
REFUSAL_DELAY = 1.0  # seconds a refused login (429, 503) waits before it is answered


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
    elif "form" in kind:
        data = dict(await request.form())
    else:
        return {}
    if any(isinstance(v, str) and "\x00" in v for v in data.values()):
        raise HTTPException(400, "请求中含有 NUL 字符")
    return data


Body = Annotated[dict, Depends(body_fields)]


def current(request: Request, session: DB) -> LoginSession:
    login = auth.find_session(session, request.cookies.get(SESSION_COOKIE))
    if login is None:
        raise HTTPException(401, "请先登录")
    return login


def signed(request: Request, login: Annotated[LoginSession, Depends(current)], body: Body) -> LoginSession:
    """A change to the caller's own login (logout, password), open to every role: the CSRF token."""
    presented = request.headers.get("x-csrf-token") or str(body.get("csrf_token") or "")
    if not auth.csrf_ok(login, presented):
        raise HTTPException(403, "CSRF 校验失败")
    return login


def acting(login: Annotated[LoginSession, Depends(signed)]) -> LoginSession:
    """A state change: needs the dispatcher or admin role and the session's CSRF token."""
    if login.user.role not in auth.CAN_ACT:
        raise HTTPException(403, "只读账号不能操作")
    return login


Viewer = Annotated[LoginSession, Depends(current)]
Signed = Annotated[LoginSession, Depends(signed)]
Actor = Annotated[LoginSession, Depends(acting)]


# ----------------------------------------------------------------------------- logging in


def client_address(request: Request) -> str:
    """The client's address for the login limits. `X-Forwarded-For` is believed only from a proxy
    listed in WEILINLI_TRUSTED_PROXIES (anyone can send the header; `serve` keeps uvicorn from
    trusting it either), and then its last hop that is not one of those proxies."""
    host = request.client.host if request.client else "?"
    trusted = {a.strip() for a in get_settings().trusted_proxies.split(",") if a.strip()}
    if host in trusted:
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                return hop[:64]
    return host


def same_origin(request: Request) -> bool:
    """A browser's form post from another site (login CSRF) carries a foreign Origin: refuse it."""
    origin = request.headers.get("origin")
    if not origin:
        return True  # not a browser's cross-site post (those always send Origin now)
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _login_limits(username: str, address: str) -> tuple[tuple[str, int], ...]:
    s = get_settings()
    return ((f"login:{username}:{address}", s.login_attempts_per_10min),
            (f"login-addr:{address}", s.login_failures_per_address),
            (f"login-user:{username}", s.login_failures_per_account))


def check_login(username: str, address: str, password: str) -> tuple[str, str, str, str]:
    """Blocking (the login pool runs it): the limits, then the password, then a new session.
    (username, role, session token, csrf) or HTTPException 429 / 401."""
    store = get_store()
    limits = _login_limits(username, address)
    if any(store.hit_rate_limit(key, limit, window=LOGIN_WINDOW, count=False) for key, limit in limits):
        raise HTTPException(429, "登录失败次数过多，请10分钟后再试")
    with session_scope() as session:
        user = auth.authenticate(session, username, password)
        if user is None:
            for key, limit in limits:
                store.hit_rate_limit(key, limit, window=LOGIN_WINDOW)
            raise HTTPException(401, "用户名或密码错误")
        token, csrf = auth.open_session(session, user)
        return user.username, user.role, token, csrf


async def log_in(request: Request, username: str, password: str) -> tuple[str, str, str, str]:
    """Check a login under the limits (per user and address, per address, per account), in the
    login pool, never on the event loop. The JSON login and the login form both come here."""
    if not same_origin(request):
        raise HTTPException(403, "跨站登录请求已拒绝")
    try:
        return await run_login(check_login, username[:64], client_address(request), password[:1024])
    except HTTPException as refused:
        if refused.status_code in (429, 503):
            # A refusal waits before it answers (on the event loop, costing nothing): a flooding
            # client that retries at once is slowed to one try a second instead of thousands.
            await asyncio.sleep(REFUSAL_DELAY)
        raise


def set_login_cookies(request: Request, response: Response, token: str, csrf: str) -> None:
    secure = request.url.scheme == "https"
    max_age = get_settings().admin_session_hours * 3600
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=max_age)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="strict", secure=secure, max_age=max_age)


def clear_login_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)


# ----------------------------------------------------------------------------- who sees what


def can_see_phone(login: LoginSession) -> bool:
    """Residents' contacts are masked on screen for every role: a dispatcher who must call one back
    reveals that one number (查看完整号码, POST …/reveal), and the reveal is audited."""
    return False


def can_search_phone(login: LoginSession) -> bool:
    """Dispatchers and admins may find an event by the caller's number (what is shown stays masked),
    and see the work phones of grid workers and volunteers."""
    return login.user.role in auth.CAN_ACT


def shown(login: LoginSession):
    """(text, phone): how residents' free text and phone fields are shown to this login."""
    return for_reader(keep_contacts=can_see_phone(login))


def staff_shown(login: LoginSession):
    """(text, phone) for staff records (grid workers, volunteers): work phones, whole for dispatchers."""
    return for_reader(keep_contacts=can_search_phone(login))


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


def act(action, *args, **kwargs) -> None:
    """Run a domain action: an illegal transition (event or order) is 409, a refused value 400."""
    try:
        action(*args, **kwargs)
    except IllegalTransition as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


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
