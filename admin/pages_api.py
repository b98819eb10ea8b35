"""JSON endpoints the admin pages need beyond admin/api.py: event lists, corrections (category, grade,
merge), grids / workers / volunteers and binding codes, the classification rules, statistics and
the Excel ledger (台账).

Same rules as admin/api.py: `wl_session` cookie to read; the CSRF token (`X-CSRF-Token` header or
`csrf_token` field) and the dispatcher or admin role to change anything; scope on every event,
grid and worker.
"""

from __future__ import annotations

import csv
import importlib
import io
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import nlp
from admin import auth, queries
from admin.api import DB, Actor, Body, Viewer, _act, text_field, visible_event
from admin.present import local_iso, mask_phone
from bot.core.db import utcnow
from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event, Grid, LoginSession, Worker
from bot.events import dispatch
from bot.events.casework import issue_bind_code
from bot.events.ratings import LABELS as RATING_LABELS
from bot.places import registry
from bot.places.routing import UNIT_LABELS
from settings import get_settings

router = APIRouter(prefix="/api", tags=["dispatcher pages"])
MAX_UPLOAD = 5 * 1024 * 1024
ROLE_LABELS = {"grid_worker": "网格员", "volunteer": "志愿者"}


def can_see_phone(login: LoginSession) -> bool:
    return login.user.role in auth.CAN_ACT


def _keep(login: LoginSession):
    return (lambda t: t) if can_see_phone(login) else mask_phone


def event_row(event: Event, login: LoginSession, now: datetime | None = None) -> dict:
    """The list's view of an event: summary only, phone masked unless the role needs it."""
    keep = _keep(login)
    now = now or utcnow()
    overdue = bool(event.overdue) or (
        event.status in Event.OPEN_STATES
        and any(due is not None and due < now for due in (
            event.resolve_due_at, event.respond_due_at if event.status in Event.UNACCEPTED_STATES else None))
    )
    return {
        "number": event.number,
        "status": event.status,
        "status_label": STATUS_LABELS.get(event.status, event.status),
        "category": event.category,
        "category_label": nlp.category_label(event.category),
        "subcategory": event.subcategory,
        "grade": event.grade,
        "urgent": event.urgent,
        "flagged": event.flagged or event.category == "other",
        "overdue": overdue,
        "text": keep(event.text),
        "place": event.place_text,
        "phone": keep(event.phone),
        "grid": event.grid.full_name if event.grid else None,
        "grid_name": event.grid.name if event.grid else None,
        "community": _community(event),
        "worker": event.worker.name if event.worker else None,
        "handler": event.worker.name if event.worker else unit_label(event),
        "created_at": local_iso(event.created_at),
        "resolve_due_at": local_iso(event.resolve_due_at),
    }


def unit_label(event: Event) -> str:
    """Whose queue the event is in, in words."""
    if event.unit == "dispatch":
        return "指挥中心待调度"
    kind = event.unit.partition(":")[0]
    labels = {"grid": "网格站", "street": UNIT_LABELS["B"], "district": UNIT_LABELS["C"], "city": UNIT_LABELS["D"]}
    return labels.get(kind, event.unit)


def _community(event: Event) -> str | None:
    community = event.grid.ancestor("community") if event.grid else None
    return community.name if community is not None and community is not event.grid else None


@router.get("/events")
def list_events(request: Request, session: DB, login: Viewer) -> dict:
    """The event list: `status` (or `open`), `grade`, `category`, `grid` (id, with its subtree),
    `overdue`, `unclassified`, `urgent`, `date_from`/`date_to` (YYYY-MM-DD), `q` (number, text or
    phone), `page`, `per_page`; with per-status counts."""
    f = queries.Filters.parse(request.query_params)
    page = queries.list_events(session, login.user, f, can_see_phone=can_see_phone(login))
    now = utcnow()
    return {"total": page.total, "page": page.page, "pages": page.pages, "per_page": page.per_page,
            "counts": page.counts, "overdue": page.overdue, "unclassified": page.unclassified,
            "events": [event_row(e, login, now) for e in page.events]}


@router.post("/events/{number}/category")
def change_category(number: str, session: DB, login: Actor, body: Body) -> dict:
    """调整分类: `category` (a taxonomy code), optional `subcategory`."""
    event = visible_event(session, login, number)
    category = text_field(body, "category", required="请选择分类（category）")
    _act(session, dispatch.change_category, event, actor_name=login.user.username, category=category,
         subcategory=text_field(body, "subcategory"))
    return {"ok": True, "number": event.number, "category": event.category, "subcategory": event.subcategory}


@router.post("/events/{number}/grade")
def change_grade(number: str, session: DB, login: Actor, body: Body) -> dict:
    """调整等级: `grade` A–D, optional `reason`."""
    event = visible_event(session, login, number)
    grade = text_field(body, "grade", required="请选择等级（grade）")
    _act(session, dispatch.change_grade, event, actor_name=login.user.username, grade=grade,
         reason=text_field(body, "reason", "note"))
    return {"ok": True, "number": event.number, "grade": event.grade}


@router.post("/events/{number}/merge")
def merge(number: str, session: DB, login: Actor, body: Body) -> dict:
    """合并重复事件: `target` (the number this one duplicates), optional `note`."""
    event = visible_event(session, login, number)
    target_number = text_field(body, "target", "into", required="请填写要合并到的事件编号（target）")
    target = visible_event(session, login, target_number)
    _act(session, dispatch.merge, event, target, actor_name=login.user.username, note=text_field(body, "note"))
    return {"ok": True, "number": event.number, "merged_into": target.number}


# ----------------------------------------------------------------------------- grids and people


def grid_json(grid: Grid) -> dict:
    return {"id": grid.id, "parent_id": grid.parent_id, "level": grid.level, "name": grid.name,
            "full_name": grid.full_name, "aliases": grid.alias_list, "duty_phone": grid.duty_phone,
            "depth": len(grid.path) - 1}


def worker_json(worker: Worker, login: LoginSession) -> dict:
    return {"id": worker.id, "name": worker.name, "phone": _keep(login)(worker.phone), "role": worker.role,
            "role_label": ROLE_LABELS.get(worker.role, worker.role), "grid_id": worker.grid_id,
            "grid": worker.grid.full_name if worker.grid else None, "active": worker.active,
            "bound": bool(worker.openid), "skills": [s for s in (worker.skills or "").split("|") if s]}


@router.get("/grids")
def grids(session: DB, login: Viewer) -> list[dict]:
    """The grid tree within the user's scope, parents before children."""
    return [grid_json(g) for g in queries.visible_grids(session, login.user)]


@router.get("/workers")
def workers(session: DB, login: Viewer, role: str = "") -> list[dict]:
    """Grid workers and volunteers within scope (`role`: grid_worker | volunteer)."""
    return [worker_json(w, login) for w in queries.visible_workers(session, login.user, role or None)]


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
    body = {"active": "1", **body}
    if "name" not in body or "phone" not in body:
        raise HTTPException(400, "请填写姓名和手机号")
    _apply_worker(session, login, worker, body)
    session.add(worker)
    session.flush()
    return worker_json(worker, login)


@router.post("/workers/{worker_id}")
def edit_worker(worker_id: int, session: DB, login: Actor, body: Body) -> dict:
    """Edit `name`, `phone`, `grid_id`, `active`, `skills` (only the fields sent)."""
    worker = _visible_worker(session, login, worker_id)
    _apply_worker(session, login, worker, body)
    session.flush()
    return worker_json(worker, login)


@router.post("/workers/{worker_id}/bind-code")
def bind_code(worker_id: int, session: DB, login: Actor) -> dict:
    """A one-time 6-digit code (valid 24 h) the person sends as `绑定 <code>` to link their WeChat."""
    worker = _visible_worker(session, login, worker_id)
    if not worker.active:
        raise HTTPException(400, "该人员已停用，不能生成绑定码")
    code = issue_bind_code(session, worker.phone)
    return {"worker_id": worker.id, "name": worker.name, "code": code,
            "hint": f"请让{worker.name}向公众号发送：绑定 {code}（24小时内有效）"}


async def _upload(request: Request) -> tuple[str, bytes]:
    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        raise HTTPException(400, "请选择要导入的文件（file）")
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(413, "文件过大（上限 5 MB）")
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise HTTPException(400, "仅支持 CSV 或 XLSX 文件")
    return suffix, data


def _import(session: Session, function, suffix: str, data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            with session.begin_nested():
                return function(session, path)
        except registry.RegistryError as exc:
            raise HTTPException(400, {"message": "导入失败，未做任何修改", "errors": exc.errors}) from exc


def _unscoped(login: LoginSession) -> None:
    if login.user.scope_grid_id is not None:
        raise HTTPException(403, "导入会修改全区数据，请由未限定辖区的管理员或调度员操作")


@router.post("/grids/import")
async def import_grids(request: Request, session: DB, login: Actor) -> dict:
    """Upload `file` (CSV or XLSX, header 区,街道,社区,网格,别名,网格员,手机号): all-or-nothing upsert."""
    _unscoped(login)
    suffix, data = await _upload(request)
    result = _import(session, registry.import_grids, suffix, data)
    nlp.add_user_words([g.name for g in session.scalars(select(Grid))], places=True)
    return {"ok": True, "rows": result.rows, "grids_created": result.grids_created,
            "workers_created": result.workers_created, "workers_updated": result.workers_updated}


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
    _unscoped(login)
    function = volunteer_importer()
    if function is None:
        raise HTTPException(501, "志愿者导入功能尚未启用")
    suffix, data = await _upload(request)
    result = _import(session, function, suffix, data)
    details = dict(vars(result)) if hasattr(result, "__dict__") else {}
    return {"ok": True, **details}


def _masked_rows(login: LoginSession, rows: list[list[str]]) -> list:
    """The header and the rows; phones masked unless the role needs them."""
    keep = _keep(login)
    return [rows[0]] + [[keep(c) if isinstance(c, str) else c for c in row] for row in rows[1:]]


def spreadsheet(rows: list[list], sheet_name: str, widths: list[int] | None = None) -> bytes:
    """An XLSX file of `rows` (header first), safe against formula injection."""
    from openpyxl import Workbook  # only for the ledger export: keeps it out of start-up
    from openpyxl.styles import Font, PatternFill

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_name
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for index, width in enumerate(widths or [], start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def safe_cell(value):
    """Spreadsheet formula injection: text starting with = + - @ (or a tab / CR) is prefixed with '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _download(data: bytes, filename: str, media_type: str) -> Response:
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"export\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/grids/export")
def export_grids(session: DB, login: Viewer, format: str = "xlsx") -> Response:
    """The grids and their workers in the import format (xlsx or csv); within scope."""
    rows = registry.export_grids(session)
    if login.user.scope_grid_id is not None:
        visible = {g.full_name for g in queries.visible_grids(session, login.user)}
        rows = [rows[0]] + [r for r in rows[1:] if f"{r[1]}{r[2]}{r[3]}" in visible]
    rows = _masked_rows(login, rows)
    stamp = datetime.now(ZoneInfo(get_settings().timezone)).strftime("%Y%m%d")
    if format == "csv":
        out = io.StringIO()
        csv.writer(out).writerows([[safe_cell(c) for c in row] for row in rows])
        return _download(("\ufeff" + out.getvalue()).encode(), f"网格与网格员_{stamp}.csv", "text/csv; charset=utf-8")
    return _download(spreadsheet(rows, "网格", [12, 14, 14, 16, 24, 10, 16]), f"网格与网格员_{stamp}.xlsx", XLSX)


@router.get("/workers/export")
def export_workers(session: DB, login: Viewer, role: str = "volunteer") -> Response:
    """Volunteers (or grid workers) as a spreadsheet: 姓名,手机号,技能,网格."""
    header = ["姓名", "手机号", "技能", "网格", "状态", "已绑定微信"]
    rows = [header] + [[w.name, w.phone, w.skills or "", w.grid.name if w.grid else "", "在岗" if w.active else "停用",
                        "是" if w.openid else "否"]
                       for w in queries.visible_workers(session, login.user, role or None)]
    rows = _masked_rows(login, rows)
    name = "志愿者" if role == "volunteer" else "网格员"
    stamp = datetime.now(ZoneInfo(get_settings().timezone)).strftime("%Y%m%d")
    return _download(spreadsheet(rows, name, [10, 16, 30, 16, 8, 10]), f"{name}_{stamp}.xlsx", XLSX)


# ----------------------------------------------------------------------------- classification rules


def classification_json(text: str) -> dict:
    result = nlp.classify(text)
    data = result.to_dict()
    data["category_label"] = result.category_label
    data["intent_label"] = nlp.classifier.INTENT_LABELS.get(result.intent, result.intent)
    return data


@router.get("/rules")
def get_rules(login: Viewer) -> dict:
    """The active classification rules file (TOML) and where it lives."""
    path = nlp.classifier.rules_path()
    nlp.classifier.get_rules()
    return {"path": str(path), "text": path.read_text(encoding="utf-8"),
            "categories": [{"code": c.code, "label": c.label} for c in nlp.classifier.get_rules().categories]}


@router.put("/rules")
@router.post("/rules")
def put_rules(login: Actor, body: Body) -> dict:
    """Replace the rules (`text`): validated first — a bad file answers 400 with the line number and
    the old rules stay in force; a good one is written and active at once."""
    text = str(body.get("text") or "")
    if not text.strip():
        raise HTTPException(400, "规则内容为空")
    if len(text) > 2 * 1024 * 1024:
        raise HTTPException(413, "规则文件过大")
    try:
        nlp.save_rules_text(text)
    except ValueError as exc:
        raise HTTPException(400, f"规则有误，未保存（原规则继续生效）：{exc}") from exc
    return {"ok": True, "categories": len(nlp.classifier.get_rules().categories)}


@router.post("/rules/validate")
def validate_rules(login: Viewer, body: Body) -> dict:
    """Check `text` without saving: {"ok": true} or {"ok": false, "error": "line N: …"}."""
    try:
        nlp.validate_rules_text(str(body.get("text") or ""))
    except ValueError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


@router.post("/rules/test")
def test_rules(login: Viewer, body: Body) -> dict:
    """Classify a sentence (`text`) with the active rules and explain the result."""
    text = text_field(body, "text", required="请输入要测试的句子（text）")
    return classification_json(text)


# ----------------------------------------------------------------------------- statistics and the ledger


def month_start(now: datetime, back: int = 0) -> datetime:
    local = now.astimezone(ZoneInfo(get_settings().timezone))
    year, month = local.year, local.month - back
    while month <= 0:
        year, month = year - 1, month + 12
    return local.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def overview(session: Session, login: LoginSession, months: int = 6) -> dict:
    """What the dashboard can show without the three-rate module: counts, categories, overdue."""
    user, now = login.user, utcnow()
    first = month_start(now, months - 1)
    categories = queries.category_breakdown(session, user)
    this_month = queries.category_breakdown(session, user, since=month_start(now))
    trend = []
    for back in range(months - 1, -1, -1):
        start, end = month_start(now, back), month_start(now, back - 1) if back else None
        clauses = [Event.created_at >= start] + ([Event.created_at < end] if end else [])
        closed = [Event.status.in_(Event.CLOSED_STATES)]
        trend.append({"month": start.strftime("%Y-%m"), "reported": queries.count_where(session, user, *clauses),
                      "closed": queries.count_where(session, user, *clauses, *closed)})
    statuses = queries.status_breakdown(session, user)
    ratings = dict(session.execute(
        queries.scoped(session, user, select(Event.rating, func.count(Event.id)))
        .where(Event.rating.is_not(None), Event.created_at >= first).group_by(Event.rating)).all())
    overdue = queries.overdue_events(session, user)
    return {
        "months": months,
        "statuses": {s: statuses.get(s, 0) for s in STATUS_LABELS},
        "status_labels": STATUS_LABELS,
        "open": sum(statuses.get(s, 0) for s in Event.OPEN_STATES),
        "total": sum(statuses.values()),
        "categories": [{"code": c, "label": nlp.category_label(c), "count": n} for c, n in categories],
        "categories_this_month": [{"code": c, "label": nlp.category_label(c), "count": n} for c, n in this_month],
        "trend": trend,
        "grids": queries.grid_breakdown(session, user, since=month_start(now)),
        "ratings": {RATING_LABELS.get(k, k): v for k, v in ratings.items()},
        "overdue_count": queries.count_where(session, user, queries.overdue_clause(), Event.status.in_(
            Event.OPEN_STATES)),
        "overdue": [event_row(e, login, now) for e in overdue],
    }


@router.get("/stats/overview")
def stats_overview(session: DB, login: Viewer, months: int = 6) -> dict:
    """Counts by status, the category breakdown, the monthly trend of reported and closed events,
    ratings and the overdue list — within scope."""
    return overview(session, login, min(max(months, 1), 24))


LEDGER_HEADER = ["事件编号", "上报时间", "来源", "分类", "子类", "等级", "紧急", "事件内容", "地点", "联系电话",
                 "所属网格", "处置人/单位", "状态", "应办结时间", "结案时间", "评价", "超期督办"]


@router.get("/events.xlsx")
def export_events(request: Request, session: DB, login: Viewer) -> Response:
    """事件台账: the filtered events as an Excel ledger; phone numbers masked (in text too)."""
    f = queries.Filters.parse(request.query_params)
    rows: list[list] = [LEDGER_HEADER]
    tz = ZoneInfo(get_settings().timezone)

    def when(dt):
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else ""

    now = utcnow()
    for event in queries.all_events(session, login.user, f, can_see_phone=can_see_phone(login)):
        row = event_row(event, login, now)
        rows.append([event.number, when(event.created_at), event.source, row["category_label"], event.subcategory,
                     event.grade, "是" if event.urgent else "", mask_phone(event.text) or "", event.place_text or "",
                     mask_phone(event.phone) or "", row["grid"] or "", row["handler"], row["status_label"],
                     when(event.resolve_due_at), when(event.closed_at),
                     RATING_LABELS.get(event.rating, event.rating or ""), "是" if row["overdue"] else ""])
    stamp = datetime.now(tz).strftime("%Y%m%d")
    widths = [18, 17, 8, 10, 12, 5, 5, 48, 18, 14, 22, 8, 8, 17, 17, 8, 8]
    return _download(spreadsheet(rows, "事件台账", widths), f"事件台账_{stamp}.xlsx", XLSX)

