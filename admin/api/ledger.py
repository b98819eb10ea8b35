"""事件台账: the filtered event list as an Excel ledger (`GET /api/events.xlsx`).

A spreadsheet leaves the system and is passed around: personal data is masked in it for every
role (bot.domain.privacy), whatever the reader may see on screen.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin import queries
from admin.api import files
from admin.deps import DB, Viewer, can_see_phone
from admin.present import event_row
from bot.core.db import utcnow
from bot.domain.privacy import mask_phone, mask_text
from bot.domain.vocabulary import MINUTE, RATING_LABELS, local_text

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
    for event in queries.all_events(session, login.user, f, can_see_phone=can_see_phone(login)):
        row = event_row(event, now)
        rows.append([event.number, local_text(event.created_at, MINUTE), event.source, row["category_label"],
                     event.subcategory, event.grade, "是" if event.urgent else "", mask_text(event.text),
                     mask_text(event.place_text), mask_phone(event.phone) or "", row["grid"] or "", row["handler"],
                     row["status_label"], local_text(event.resolve_due_at, MINUTE), local_text(event.closed_at, MINUTE),
                     RATING_LABELS.get(event.rating, event.rating or ""), "是" if row["overdue"] else ""])
    return files.download(files.spreadsheet(rows, "事件台账", WIDTHS), files.stamped("事件台账", "xlsx"))
