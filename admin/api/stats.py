"""Statistics for the dashboard (`/api/stats/overview`) and 三率考核 (`/api/rates`), within scope.

`GET /api/rates?month=YYYY-MM&by=worker|grid|community|street` is for any logged-in user; a user
scoped to a street or district sees only events in that part of the grid tree.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import nlp
from admin import queries
from admin.api import files
from admin.deps import DB, Viewer, can_see_phone
from admin.present import event_row
from bot.core.db import utcnow
from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event, LoginSession
from bot.domain.vocabulary import MONTH, RATING_LABELS, local_now
from bot.reports import rates, workbook

router = APIRouter(prefix="/api", tags=["dispatcher pages"])
rates_router = APIRouter(prefix="/api", tags=["rates"])


def month_start(now: datetime, back: int = 0) -> datetime:
    local = local_now(now)
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
        trend.append({"month": start.strftime(MONTH), "reported": queries.count_where(session, user, *clauses),
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
        "overdue": [event_row(e, now, keep_contacts=can_see_phone(login)) for e in overdue],
    }


@router.get("/stats/overview")
def stats_overview(session: DB, login: Viewer, months: int = 6) -> dict:
    """Counts by status, the category breakdown, the monthly trend of reported and closed events,
    ratings and the overdue list — within scope."""
    return overview(session, login, min(max(months, 1), 24))


@rates_router.get("/rates")
def get_rates(session: DB, login: Viewer,
              month: str | None = Query(None, description="YYYY-MM, the Asia/Shanghai calendar month of the "
                                                          "reports; default the current month"),
              by: str = Query("grid", description="worker | grid | community | street")) -> dict:
    """The response rate (10 %), completion rate (40 %), satisfaction rate (50 %) and the composite
    score of the month's events per group, with the counts behind each rate and the definitions."""
    try:
        report = rates.compute(session, rates.current_month() if month is None else month, by,
                               scope_grid_id=login.user.scope_grid_id)
    except rates.RatesError as exc:
        raise HTTPException(400, str(exc)) from exc
    data = report.as_dict()
    scope = login.user.scope
    data["scope"] = (scope.full_name or scope.name) if scope is not None else None
    return data


@router.get("/reports/monthly.xlsx")
def monthly_workbook(session: DB, login: Viewer,
                     month: str = Query(..., description="YYYY-MM, the Asia/Shanghai calendar month")) -> Response:
    """The monthly 民情分析 workbook (the same as `weilinli report --month`): totals by category and
    grid, the three rates, overdue cases and places. It covers every grid, so only users without a
    scope may download it."""
    if login.user.scope_grid_id is not None:
        raise HTTPException(403, "月度民情分析覆盖全部辖区，请由区级（不限辖区）账号下载")
    try:
        rates.month_range(month)
    except rates.RatesError as exc:
        raise HTTPException(400, str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="wl-report-") as folder:
        out = Path(folder) / "report.xlsx"
        workbook.write_report(session, month, out)
        data = out.read_bytes()
    return files.download(data, f"民情分析_{month}.xlsx")
