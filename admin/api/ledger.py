"""事件台账: the filtered event list as an Excel ledger (`GET /api/events.xlsx`).

A spreadsheet leaves the system and is passed around: personal data is masked in it for every
role (bot.domain.privacy), whatever the reader may see on screen.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import and_, func, select

from admin import queries
from admin.api import files
from admin.deps import DB, Viewer, can_search_phone, staff_shown
from admin.present import SOURCE_LABELS, event_row
from bot.core.db import utcnow
from bot.domain.models import PointsEntry, Worker
from bot.domain.privacy import mask_phone, mask_text
from bot.domain.vocabulary import MINUTE, RATING_LABELS, local_iso, local_text
from bot.orders.lifecycle import STATUS_LABELS as ORDER_STATUS_LABELS
from bot.reports import rates

router = APIRouter(prefix="/api", tags=["dispatcher pages"])

LEDGER_HEADER = ["事件编号", "上报时间", "来源", "分类", "子类", "等级", "紧急", "事件内容", "地点", "联系电话",
                 "所属网格", "处置人/单位", "状态", "应办结时间", "结案时间", "评价", "超期督办"]
WIDTHS = [18, 17, 8, 10, 12, 5, 5, 48, 18, 14, 22, 8, 8, 17, 17, 8, 8]


@router.get("/events.xlsx")
def export_events(request: Request, session: DB, login: Viewer) -> Response:
    """事件台账: the filtered events as an Excel ledger; personal data masked (in text too)."""
    f = queries.Filters.parse(request.query_params)
    rows: list[list] = [LEDGER_HEADER]
    now = utcnow()
    for event in queries.all_events(session, login.user, f, can_see_phone=can_search_phone(login)):
        row = event_row(event, now)
        rows.append([event.number, local_text(event.created_at, MINUTE), SOURCE_LABELS.get(event.source, event.source),
                     row["category_label"],
                     event.subcategory, event.grade, "是" if event.urgent else "", mask_text(event.text),
                     mask_text(event.place_text), mask_phone(event.phone) or "", row["grid"] or "", row["handler"],
                     row["status_label"], local_text(event.resolve_due_at, MINUTE), local_text(event.closed_at, MINUTE),
                     RATING_LABELS.get(event.rating, event.rating or ""), "是" if row["overdue"] else ""])
    return files.download(files.spreadsheet(rows, "事件台账", WIDTHS), files.stamped("事件台账", "xlsx"))


# ----------------------------------------------------------------------------- 五单: orders and volunteers' hours

ORDER_HEADER = ["服务单号", "点单时间", "服务项目", "地点", "所属网格", "志愿者", "状态", "接单时间", "完成时间",
                "服务时长（小时）", "积分", "评价", "晒单"]
ORDER_WIDTHS = [18, 17, 10, 22, 22, 8, 8, 17, 17, 10, 6, 8, 6]
HOURS_HEADER = ["志愿者", "手机号", "所属网格", "技能", "服务单数", "志愿时长（小时）", "积分", "最近服务"]
HOURS_WIDTHS = [8, 14, 22, 26, 8, 12, 8, 17]


def volunteer_hours(session, login, month: str = "") -> list[dict]:
    """志愿时长/积分台账: per volunteer in scope, the credits of the ledger (optionally one month's)."""
    query = (select(Worker, func.count(PointsEntry.id), func.coalesce(func.sum(PointsEntry.hours), 0.0),
                    func.coalesce(func.sum(PointsEntry.points), 0.0), func.max(PointsEntry.at))
             .outerjoin(PointsEntry, and_(PointsEntry.volunteer_id == Worker.id,
                                          *(_month(month) if month else ())))
             .where(Worker.role == "volunteer").group_by(Worker.id).order_by(Worker.id))
    scope = queries.scope_clause(session, login.user, Worker.grid_id)
    if scope is not None:
        query = query.where(scope)
    _, phone = staff_shown(login)
    return [{"id": w.id, "name": w.name, "phone": phone(w.phone), "grid": w.grid.full_name if w.grid else "",
             "skills": [s for s in (w.skills or "").split("|") if s], "orders": int(n), "hours": float(h),
             "points": float(p), "last": local_iso(last), "active": w.active}
            for w, n, h, p, last in session.execute(query)]


def _month(month: str) -> tuple:
    start, end = rates.month_range(month)
    return (PointsEntry.at >= start, PointsEntry.at < end)


@router.get("/volunteers/hours")
def hours(session: DB, login: Viewer, month: str = Query("", description="YYYY-MM; empty: all time")) -> dict:
    """The volunteers' hours and points ledger (志愿时长/积分), per volunteer, within scope."""
    try:
        rows = volunteer_hours(session, login, month)
    except rates.RatesError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"month": month or None, "volunteers": rows,
            "total": {"orders": sum(r["orders"] for r in rows), "hours": sum(r["hours"] for r in rows),
                      "points": sum(r["points"] for r in rows)}}


@router.get("/volunteers/hours.xlsx")
def export_hours(session: DB, login: Viewer, month: str = Query("")) -> Response:
    """志愿时长台账 as Excel (phones masked: a spreadsheet leaves the system)."""
    try:
        found = volunteer_hours(session, login, month)
    except rates.RatesError as exc:
        raise HTTPException(400, str(exc)) from exc
    rows: list[list] = [HOURS_HEADER]
    for r in found:
        rows.append([r["name"], mask_phone(session.get(Worker, r["id"]).phone), r["grid"], "、".join(r["skills"]),
                     r["orders"], r["hours"], r["points"], (r["last"] or "")[:16].replace("T", " ")])
    return files.download(files.spreadsheet(rows, "志愿时长台账", HOURS_WIDTHS),
                          files.stamped(f"志愿时长台账{('_' + month) if month else ''}", "xlsx"))


@router.get("/orders.xlsx")
def export_orders(session: DB, login: Viewer, status: str | None = Query(None), service: str | None = Query(None),
                  volunteer: int | None = Query(None)) -> Response:
    """服务单台账: the filtered service orders as Excel, personal data masked."""
    from admin.api.orders import find_orders  # the same filters as the list

    rows: list[list] = [ORDER_HEADER]
    for o in find_orders(session, login, status=status, service=service, volunteer=volunteer, limit=50000):
        rows.append([o.number, local_text(o.created_at, MINUTE), o.service, mask_text(o.place_text),
                     o.grid.full_name if o.grid else "", o.volunteer.name if o.volunteer else "",
                     ORDER_STATUS_LABELS[o.status], local_text(o.accepted_at, MINUTE),
                     local_text(o.completed_at, MINUTE),
                     o.hours or "", o.points or "", RATING_LABELS.get(o.rating or "", ""),
                     "是" if o.public and o.status == "rated" else ""])
    return files.download(files.spreadsheet(rows, "服务单台账", ORDER_WIDTHS), files.stamped("服务单台账", "xlsx"))
