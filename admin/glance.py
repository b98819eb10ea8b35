"""Rates at a glance (三率看板): the month's headline rates with the change from last month, and one
ranking table per worker / grid / community / street with links to the events behind each figure.

Every figure comes from bot.reports.rates.compute — the function behind GET /api/rates — so the
page, the API and the drill-down lists agree by construction (tests/feature/test_desk_pages.py
checks they do).
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.orm import Session

from bot.domain.models import LoginSession
from bot.reports import rates

HEADLINES = [("response_rate", "响应率", "10%"), ("completion_rate", "办结率", "40%"),
             ("satisfaction_rate", "满意率", "50%"), ("composite", "综合得分", "")]


def previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - (mon == 1)}-{(mon - 2) % 12 + 1:02d}"


def next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + (mon == 12)}-{mon % 12 + 1:02d}"


def drill(month: str, by: str, key: int | None, **extra) -> str | None:
    """The event list behind a figure of row `key` (None: the unassigned row; the total when by is '')."""
    params: dict = {"month": month, "counted": 1}
    if by == "worker":
        params["worker"] = key if key is not None else 0
    elif by:
        if key is None:
            return None  # events without a grid: no grid filter can select just them
        params["grid"] = key
    params.update({k: v for k, v in extra.items() if v})
    return "/admin/events?" + urlencode(params)


def glance(session: Session, login: LoginSession, month: str | None, by: str) -> dict:
    """Everything the rates section shows; raises rates.RatesError on a bad month or grouping."""
    month = month or rates.current_month()
    scope = login.user.scope_grid_id
    report = rates.compute(session, month, by, scope_grid_id=scope)
    before = rates.compute(session, previous_month(month), "street", scope_grid_id=scope).total
    total = report.total
    heads = []
    for name, label, weight in HEADLINES:
        now_value, then = getattr(total, name), getattr(before, name)
        change = None if now_value is None or then is None else round(now_value - then, 1)
        heads.append({"name": name, "label": label, "weight": weight, "value": now_value, "change": change,
                      "previous": then})
    rows = []
    for row in report.rows:
        rows.append({**row.as_dict(), "events": drill(month, by, row.key),
                     "respond_late": drill(month, by, row.key, late="respond"),
                     "resolve_late": drill(month, by, row.key, late="resolve")})
    return {"month": month, "previous": previous_month(month), "next": next_month(month), "by": by,
            "by_label": rates.BY_LABELS[by], "by_labels": rates.BY_LABELS, "heads": heads,
            "total": {**total.as_dict(), "events": drill(month, "", None)}, "rows": rows,
            "definitions": rates.DEFINITION_ITEMS, "current": rates.current_month(),
            "workbook": login.user.scope_grid_id is None}
