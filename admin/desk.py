"""The street office's other desks in the admin page: the orders desk (五单), the volunteers' hours
ledger, the map of grids, and the phone-reveal audit. Server-rendered like admin/pages.py; every
change goes through the JSON API."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from admin import mapdata, queries
from admin.api import ledger
from admin.api import orders as orders_api
from admin.deps import DB, can_see_phone
from admin.pages import Login, render
from bot.domain.models import Order, PhoneReveal
from bot.domain.vocabulary import local_iso
from bot.orders import lifecycle, services_menu
from bot.reports import rates

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/orders")
def orders_page(request: Request, session: DB, login: Login, status: str = "", service: str = "",
                volunteer: str = "", q: str = "", flagged: str = "") -> HTMLResponse:
    volunteer_id = int(volunteer) if volunteer.isdigit() else None
    if status and status != "open" and status not in lifecycle.STATUS_LABELS:
        status = ""
    found = orders_api.find_orders(session, login, status=status or None, service=service or None,
                                   volunteer=volunteer_id, q=q, flagged=flagged == "1", limit=200)
    keep = can_see_phone(login)
    filters = {"status": status, "service": service, "volunteer": volunteer_id or "", "q": q,
               "flagged": "1" if flagged == "1" else ""}

    def link(**changes) -> str:
        params = {k: v for k, v in (filters | changes).items() if v not in ("", None)}
        return "/admin/orders" + (f"?{urlencode(params)}" if params else "")

    export = {k: v for k, v in filters.items() if k in ("status", "service", "volunteer") and v}
    counts = orders_api.status_counts(session, login)
    flagged_total = len(orders_api.find_orders(session, login, flagged=True, limit=500))
    return render("orders.html", request, login, rows=[orders_api.order_json(session, o, keep_contacts=keep)
                                                       for o in found],
                  counts=counts, flagged_total=flagged_total,
                  open_total=sum(counts[s] for s in Order.OPEN_STATES), f=filters, link=link,
                  labels=lifecycle.STATUS_LABELS, services=[s.name for s in services_menu.menu()],
                  volunteers=queries.visible_workers(session, login.user, "volunteer"),
                  export="/api/orders.xlsx" + (f"?{urlencode(export)}" if export else ""))


@router.get("/orders/{number}")
def order_page(number: str, request: Request, session: DB, login: Login) -> HTMLResponse:
    try:
        order = orders_api.visible_order(session, login, number)
    except HTTPException:
        return render("error.html", request, login, status=404, message=f"未找到服务单 {number}（或不在您的管辖范围）")
    data = orders_api.order_json(session, order, keep_contacts=can_see_phone(login))
    volunteers = [w for w in queries.visible_workers(session, login.user, "volunteer", include_inactive=False)]
    able = [w for w in volunteers if order.service in (w.skills or "").split("|")]
    actions = {name: lifecycle.can(order, name) for name in ("assign", "offer", "cancel", "note")}
    return render("order.html", request, login, o=order, d=data, able=able, order_labels=lifecycle.STATUS_LABELS,
                  others=[w for w in volunteers if w not in able], actions=actions)


@router.get("/volunteers/hours")
def hours_page(request: Request, session: DB, login: Login, month: str = "") -> HTMLResponse:
    try:
        rows = ledger.volunteer_hours(session, login, month)
    except rates.RatesError:
        month, rows = "", ledger.volunteer_hours(session, login, "")
    return render("hours.html", request, login, rows=rows, month=month, current=rates.current_month(),
                  total={"orders": sum(r["orders"] for r in rows), "hours": sum(r["hours"] for r in rows),
                         "points": sum(r["points"] for r in rows)})


@router.get("/map")
def map_page(request: Request, session: DB, login: Login) -> HTMLResponse:
    data = mapdata.map_data(session, login.user)
    return render("map.html", request, login, data=data)


@router.get("/audit")
def audit_page(request: Request, session: DB, login: Login, page: int = 1) -> HTMLResponse:
    """查看完整号码 audit: who revealed which number, when. Admins see everyone's; others their own."""
    query = select(PhoneReveal).order_by(PhoneReveal.id.desc())
    if login.user.role != "admin":
        query = query.where(PhoneReveal.user_id == login.user.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = [{"at": local_iso(r.at), "username": r.username, "role": auth_role(r.role), "kind": r.target_kind,
             "number": r.target_number, "field": r.field, "reason": r.reason}
            for r in session.scalars(query.offset((page - 1) * 50).limit(50))]
    return render("audit.html", request, login, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // 50)), everyone=login.user.role == "admin")


def auth_role(role: str) -> str:
    return {"admin": "管理员", "dispatcher": "调度员", "viewer": "只读"}.get(role, role)


