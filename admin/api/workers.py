"""Grid workers and volunteers: listed and edited within scope, volunteers imported, one-time binding
codes (绑定码) issued, and the list exported as a spreadsheet."""

from __future__ import annotations

import importlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import auth, queries
from admin.api import files
from admin.deps import DB, Actor, Body, Viewer, can_search_phone, text_field
from admin.pool import run_heavy
from admin.present import ROLE_LABELS, worker_json
from bot.domain.models import Grid, LoginSession, Worker
from bot.events.casework import issue_bind_code
from bot.places import registry

router = APIRouter(prefix="/api", tags=["dispatcher pages"])


@router.get("/workers")
def workers(session: DB, login: Viewer, role: str = "") -> list[dict]:
    """Grid workers and volunteers within scope (`role`: grid_worker | volunteer)."""
    keep = can_search_phone(login)
    return [worker_json(w, keep_contacts=keep) for w in queries.visible_workers(session, login.user, role or None)]


def _grid_in_scope(session: Session, login: LoginSession, grid_id) -> Grid | None:
    if grid_id in (None, ""):
        if login.user.scope_grid_id is not None:
            raise HTTPException(400, "请选择所属网格")
        return None
    try:
        grid = session.get(Grid, int(grid_id))
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, "grid_id 应为数字") from exc
    if grid is None or not auth.in_scope(login.user, grid):
        raise HTTPException(400, "该网格不在您的管辖范围")
    return grid


def _visible_worker(session: Session, login: LoginSession, worker_id: int) -> Worker:
    worker = session.get(Worker, worker_id)
    if worker is None or (login.user.scope_grid_id is not None and not auth.in_scope(login.user, worker.grid)):
        raise HTTPException(404, "未找到该人员")
    return worker


def _phone(body: dict) -> str:
    phone = text_field(body, "phone", required="请填写手机号")
    if not registry.PHONE.match(phone):
        raise HTTPException(400, f"手机号格式不正确：{phone}")
    return phone


def _apply_worker(session: Session, login: LoginSession, worker: Worker, body: dict) -> None:
    if "name" in body:
        worker.name = text_field(body, "name", required="请填写姓名")[:64]
    if "phone" in body:
        phone = _phone(body)
        clash = session.scalar(select(Worker.id).where(Worker.phone == phone, Worker.id != (worker.id or 0)))
        if clash is not None:
            raise HTTPException(400, f"手机号 {phone} 已被其他人员使用")
        worker.phone = phone
    if "grid_id" in body:
        worker.grid = _grid_in_scope(session, login, body.get("grid_id"))
    if "active" in body:
        worker.active = str(body.get("active")).lower() in ("1", "true", "on", "yes")
    if "skills" in body:
        raw = body.get("skills")
        items = raw if isinstance(raw, list) else str(raw or "").replace("，", "|").replace(",", "|").split("|")
        worker.skills = "|".join(dict.fromkeys(str(s).strip()[:20] for s in items if str(s).strip()))


@router.post("/workers")
def add_worker(session: DB, login: Actor, body: Body) -> dict:
    """A new grid worker or volunteer: `name`, `phone`, `grid_id`, `role`, optional `skills`."""
    role = text_field(body, "role") or "grid_worker"
    if role not in ROLE_LABELS:
        raise HTTPException(400, "role 应为 grid_worker 或 volunteer")
    worker = Worker(name="", phone="", role=role, active=True, skills="")
    body = {"active": "1", "grid_id": None, **body}  # no grid_id is no grid: refused for a scoped dispatcher
    if "name" not in body or "phone" not in body:
        raise HTTPException(400, "请填写姓名和手机号")
    _apply_worker(session, login, worker, body)
    session.add(worker)
    session.flush()
    return worker_json(worker, keep_contacts=True)


@router.post("/workers/{worker_id}")
def edit_worker(worker_id: int, session: DB, login: Actor, body: Body) -> dict:
    """Edit `name`, `phone`, `grid_id`, `active`, `skills` (only the fields sent)."""
    worker = _visible_worker(session, login, worker_id)
    _apply_worker(session, login, worker, body)
    session.flush()
    return worker_json(worker, keep_contacts=True)


@router.post("/workers/{worker_id}/bind-code")
def bind_code(worker_id: int, session: DB, login: Actor) -> dict:
    """A one-time 6-digit code (valid 24 h) the person sends as `绑定 <code>` to link their WeChat."""
    worker = _visible_worker(session, login, worker_id)
    if not worker.active:
        raise HTTPException(400, "该人员已停用，不能生成绑定码")
    code = issue_bind_code(session, worker.phone)
    return {"worker_id": worker.id, "name": worker.name, "code": code,
            "hint": f"请让{worker.name}向公众号发送：绑定 {code}（24小时内有效）"}


def volunteer_importer():
    """`import_volunteers(session, path)` from the volunteers module (or the registry), if present."""
    try:
        module = importlib.import_module("bot.orders.volunteers")
    except ImportError:
        module = registry
    return getattr(module, "import_volunteers", None)


@router.post("/volunteers/import")
async def import_volunteers(request: Request, session: DB, login: Actor) -> dict:
    """Upload `file` (CSV or XLSX, header 姓名,手机号,技能,网格): all-or-nothing upsert."""
    files.unscoped(login)
    function = volunteer_importer()
    if function is None:
        raise HTTPException(501, "志愿者导入功能尚未启用")
    suffix, data = await files.upload(request)
    result = await run_heavy(files.run_import, session, function, suffix, data)  # off the event loop
    details = dict(vars(result)) if hasattr(result, "__dict__") else {}
    return {"ok": True, **details}


@router.get("/workers/export")
def export_workers(session: DB, login: Viewer, role: str = "volunteer") -> Response:
    """Volunteers (or grid workers) as a spreadsheet: 姓名,手机号,技能,网格."""
    header = ["姓名", "手机号", "技能", "网格", "状态", "已绑定微信", "角色"]
    rows = [header] + [[w.name, w.phone, w.skills or "", w.grid.name if w.grid else "", "在岗" if w.active else "停用",
                        "是" if w.openid else "否", ROLE_LABELS.get(w.role, w.role)]
                       for w in queries.visible_workers(session, login.user, role or None)]
    name = "志愿者" if role == "volunteer" else "网格员"
    return files.download(files.spreadsheet(files.shown_rows(login, rows), name, [10, 16, 30, 16, 8, 10, 8]),
                          files.stamped(name, "xlsx"))
