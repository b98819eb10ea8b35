"""`GET /api/rates?month=YYYY-MM&by=worker|grid|community|street`: 三率考核 for any logged-in user.

A user scoped to a street or district sees only events in that part of the grid tree.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from admin.api import DB, Viewer
from bot.reports import rates

router = APIRouter(prefix="/api", tags=["rates"])


@router.get("/rates")
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
