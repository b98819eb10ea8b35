"""The dispatcher's admin page (指挥调度台): server-rendered pages under /admin/.

Jinja2 with autoescape renders every resident's text as text. Pages read with the `wl_session`
cookie; every change goes through the JSON API (admin/api/) from small
vanilla JS that sends the session's CSRF token in `X-CSRF-Token`. Login and logout are plain forms
(the login form sets the same cookies as POST /api/login; logout carries `csrf_token`).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

import nlp
from admin import auth, glance, queries, rules_form
from admin.api import rules as rules_api
from admin.api import stats
from admin.api.workers import volunteer_importer
from admin.deps import (
    DB,
    SESSION_COOKIE,
    can_search_phone,
    can_see_phone,
    clear_login_cookies,
    log_in,
    same_origin,
    set_login_cookies,
    staff_shown,
)
from admin.present import SOURCE_LABELS, event_json, event_row, is_overdue, unit_label
from bot.core.db import utcnow
from bot.domain.lifecycle import ACTION_LABELS, STATUS_LABELS, can
from bot.domain.models import Attachment, Event, LoginSession, Worker
from bot.domain.vocabulary import GRADE_TITLES, local_iso
from bot.events import followup
from bot.reports import rates
from bot.wechat.media import media_dir
from bot.wechat.push import template_warnings
from settings import get_settings

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
router = APIRouter(prefix="/admin", include_in_schema=False)
templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(("html", "xml"), default=True))
templates.filters["dt"] = lambda iso, short=False: (iso or "—")[5 if short else 0:16].replace("T", " ")
ROLE_LABELS = {"admin": "管理员", "dispatcher": "调度员", "viewer": "只读"}


def static() -> StaticFiles:
    """The vendored assets (no CDN), mounted by the app factory at /admin/static."""
    return StaticFiles(directory=STATIC_DIR)


class LoginRequired(HTTPException):
    def __init__(self, request: Request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        super().__init__(303, "请先登录", headers={"Location": f"/admin/login?next={quote(target)}"})


def page_login(request: Request, session: DB) -> LoginSession:
    login = auth.find_session(session, request.cookies.get(SESSION_COOKIE))
    if login is None:
        raise LoginRequired(request)
    return login


Login = Annotated[LoginSession, Depends(page_login)]


def render(name: str, request: Request, login: LoginSession | None = None, status: int = 200,
           **context) -> HTMLResponse:
    user = login.user if login else None
    html = templates.get_template(name).render(
        request=request, user=user, login=login, csrf=login.csrf_token if login else "",
        can_act=bool(user and user.role in auth.CAN_ACT), role_label=ROLE_LABELS.get(user.role, "") if user else "",
        scope=user.scope.full_name or user.scope.name if user and user.scope else "全部辖区",
        nav=request.url.path, status_labels=STATUS_LABELS, grade_labels=GRADE_TITLES, demo=get_settings().demo,
        ops_warnings=template_warnings() if user and user.role in auth.CAN_ACT else [], **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
    return response


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/admin/") and not target.startswith("//") else "/admin/events"


# ----------------------------------------------------------------------------- login


@router.get("/")
def home(request: Request, session: DB) -> RedirectResponse:
    login = auth.find_session(session, request.cookies.get(SESSION_COOKIE))
    return RedirectResponse("/admin/events" if login else "/admin/login", status_code=303)


@router.get("/login")
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return render("login.html", request, next=_safe_next(next), error="", username="")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """The same check, rate limit and cookies as POST /api/login, answered with a page."""
    if not same_origin(request):
        raise HTTPException(403, "跨站登录请求已拒绝")
    form = await request.form()
    username, password = str(form.get("username") or "").strip()[:64], str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    try:
        _name, _role, token, csrf = await log_in(request, username, password)  # in the login pool
    except HTTPException as refused:
        return render("login.html", request, status=refused.status_code, next=target, username=username,
                      error=refused.detail)
    response = RedirectResponse(target, status_code=303)
    set_login_cookies(request, response, token, csrf)
    return response


@router.post("/logout")
async def logout(request: Request, session: DB, login: Login) -> Response:
    form = await request.form()
    if not auth.csrf_ok(login, str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")):
        raise HTTPException(403, "CSRF 校验失败")
    auth.close_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/admin/login", status_code=303)
    clear_login_cookies(response)
    return response


# ----------------------------------------------------------------------------- events


def _categories() -> list[tuple[str, str]]:
    return [(c.code, c.label) for c in nlp.classifier.get_rules().categories] or list(nlp.CATEGORIES.items())


@router.get("/events")
def events_page(request: Request, session: DB, login: Login) -> HTMLResponse:
    f = queries.Filters.parse(request.query_params)
    page = queries.list_events(session, login.user, f, can_see_phone=can_search_phone(login))
    rows = [event_row(e, keep_contacts=can_see_phone(login)) for e in page.events]

    def link(**changes) -> str:
        params = f.query_params(**changes)
        return "/admin/events" + (f"?{urlencode(params)}" if params else "")

    export = "/api/events.xlsx" + (f"?{urlencode(f.query_params(page=1))}" if f.query_params(page=1) else "")
    worker = session.get(Worker, f.worker) if f.worker else None
    worker_name = worker.name if worker else "未派单"
    return render("events.html", request, login, f=f, page=page, rows=rows, link=link, export=export,
                  worker_name=worker_name,
                  categories=_categories(), grids=queries.visible_grids(session, login.user),
                  open_total=sum(page.counts.get(s, 0) for s in Event.OPEN_STATES))


def _assignable(session: Session, login: LoginSession, event: Event) -> tuple[list[Worker], list[Worker]]:
    """Workers of the event's grid first, then the rest of the user's scope."""
    everyone = [w for w in queries.visible_workers(session, login.user, "grid_worker", include_inactive=False)]
    local = [w for w in everyone if event.grid_id and w.grid_id == event.grid_id]
    return local, [w for w in everyone if w not in local]


@router.get("/events/{number}")
def event_page(number: str, request: Request, session: DB, login: Login) -> HTMLResponse:
    event = session.scalar(select(Event).where(Event.number == number.upper()))
    if event is None or not auth.in_scope(login.user, event.grid):
        return render("error.html", request, login, status=404, message=f"未找到事件 {number}（或不在您的管辖范围）")
    data = event_json(session, event, keep_contacts=can_see_phone(login))
    local, others = _assignable(session, login, event)
    merged_into = session.get(Event, event.merged_into_id) if event.merged_into_id else None
    stored = {a.id: a for a in event.attachments}
    photos = [{"id": a.id, "kind": a.kind, "label": a.label, "stored": bool(a.local_path), "url": _web_link(a.url),
               "lat": _coordinate(a), "media_id": a.media_id} for a in stored.values()]
    overdue = is_overdue(event, utcnow())
    actions = {name: can(event, name) for name in ("assign", "escalate", "close", "reject", "merge", "note",
                                                   "supervise")}
    actions["escalate"] = actions["escalate"] and event.grade != "D"
    actions["reopen"] = followup.second_unsatisfied(event)
    return render("event.html", request, login, e=event, d=data, local=local, others=others, photos=photos,
                  merged_into=merged_into, actions=actions, overdue=overdue, categories=_categories(),
                  unit_label=unit_label(event), source_label=SOURCE_LABELS.get(event.source, event.source),
                  due={"respond": local_iso(event.respond_due_at), "resolve": local_iso(event.resolve_due_at)},
                  intent_label=nlp.classifier.INTENT_LABELS.get(event.intent, event.intent),
                  action_labels=ACTION_LABELS)


def _web_link(url: str | None) -> str | None:
    """Only http(s) links become an href: a stored `javascript:` or `data:` link is not a link."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def _coordinate(attachment: Attachment) -> str | None:
    return attachment.label if attachment.kind == "location" else None


@router.get("/media/{attachment_id}")
def media(attachment_id: int, session: DB, login: Login) -> Response:
    """A stored photo or voice file of an event, for logged-in users whose scope covers the event."""
    item = session.get(Attachment, attachment_id)
    if item is None or not item.local_path or not auth.in_scope(login.user, item.event.grid):
        raise HTTPException(404, "未找到该附件")
    path = Path(item.local_path).resolve()
    root = media_dir().resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, "未找到该附件")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not kind.startswith(("image/", "audio/")):
        kind = "application/octet-stream"
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "private, max-age=3600",
                                                        "X-Content-Type-Options": "nosniff"})


# ----------------------------------------------------------------------------- people, rules, dashboard


@router.get("/people")
def people_page(request: Request, session: DB, login: Login) -> HTMLResponse:
    grids = queries.visible_grids(session, login.user)
    workers = queries.visible_workers(session, login.user, "grid_worker")
    volunteers = queries.visible_workers(session, login.user, "volunteer")
    _, keep = staff_shown(login)
    by_grid: dict[int, list[Worker]] = {}
    for worker in workers:
        if worker.grid_id:
            by_grid.setdefault(worker.grid_id, []).append(worker)
    depth0 = min((len(g.path) for g in grids), default=1)
    return render("people.html", request, login, grids=grids, workers=workers, volunteers=volunteers, keep=keep,
                  by_grid=by_grid, depth0=depth0, leaf_grids=[g for g in grids if g.level in ("grid", "building")],
                  level_labels={"district": "区", "street": "街道", "community": "社区", "grid": "网格",
                                "building": "楼栋"},
                  volunteer_import=volunteer_importer() is not None,
                  unscoped=login.user.scope_grid_id is None)


@router.get("/rules")
def rules_page(request: Request, login: Login) -> HTMLResponse:
    rules = rules_api.get_rules(login)
    try:
        form = rules_form.structure(rules["text"])
    except rules_form.FormError:
        form = {"categories": [], "concepts": [], "min_score": None}  # the TOML view still shows the text
    return render("rules.html", request, login, rules=rules, form=form)


@router.get("/dashboard")
def dashboard_page(request: Request, session: DB, login: Login, month: str = "", by: str = "grid") -> HTMLResponse:
    try:
        rates_view = glance.glance(session, login, month or None, by)
    except rates.RatesError as exc:
        return render("error.html", request, login, status=400, message=str(exc))
    data = stats.overview(session, login) | {"month": rates_view["month"]}
    return render("dashboard.html", request, login, data=data, g=rates_view)
