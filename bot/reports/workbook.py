"""The monthly 民情分析 workbook (`weilinli report --month YYYY-MM --out FILE.xlsx`).

Sheets: 概况 (scope, totals, the rate definitions), 类别统计 (totals by category), 网格统计
(grid × category), 三率-网格员 / 三率-网格 / 三率-社区 / 三率-街道 (bot.reports.rates), 超期督办 (the
month's overdue events), 高发地点 (the most-reported places).

Every figure comes from GROUP BY queries; only the overdue list is streamed row by row. Personal
data is masked (bot.domain.privacy) and any text a resident wrote is guarded against formula injection
(a cell starting with = + - @, tab or CR gets a leading apostrophe and is stored as text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

import nlp
from bot.core.db import utcnow
from bot.core.spreadsheet import safe_cell
from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event, Grid, Rating, Worker
from bot.domain.privacy import mask_phone, mask_text
from bot.domain.vocabulary import MINUTE, RATING_LABELS, RATING_SCALE, local_naive, local_text
from bot.reports import rates

if TYPE_CHECKING:
    from openpyxl import Workbook

SHEETS = ("概况", "类别统计", "网格统计", "三率-网格员", "三率-网格", "三率-社区", "三率-街道", "超期督办", "高发地点")
STEPS = (*SHEETS, "保存")
TOP_PLACES = 50
HEADER_FONT = {"bold": True, "color": "FFFFFF"}  # openpyxl's Font and PatternFill arguments
HEADER_FILL = {"fill_type": "solid", "fgColor": "C0392B"}
RATE_COLUMNS = [
    ("排名", None), ("名称", "name"), ("所属", "belongs_to"), ("上报数", "reported"),
    ("应响应数", "respond_due"), ("按时响应数", "respond_on_time"), ("响应率(%)", "response_rate"),
    ("应办结数", "resolve_due"), ("按时办结数", "resolve_on_time"), ("办结率(%)", "completion_rate"),
    *((label, value) for value, label in RATING_SCALE.items()), ("参评数", "rated"),
    ("未评价", "unrated"), ("满意率(%)", "satisfaction_rate"), ("综合得分", "composite"),
    ("三率齐全", "composite_complete"), ("超期督办数", "overdue"),
]


class Sheet:
    """A write-only sheet with a styled header; every value passes `safe_cell`.

    openpyxl (and the numpy it imports when present) is loaded on the first export, not when the
    service starts: a third of a second of every cold start and pages no worker otherwise reads."""

    def __init__(self, book: Workbook, title: str, header: Iterable[str], widths: Iterable[int] = ()):
        from openpyxl.styles import Alignment, Font, PatternFill

        self.ws = book.create_sheet(title)
        for index, width in enumerate(widths):
            self.ws.column_dimensions[_column(index)].width = width
        self.ws.freeze_panes = "A2"
        cells = []
        for name in header:
            cell = _cell(self.ws, name)
            cell.font, cell.fill = Font(**HEADER_FONT), PatternFill(**HEADER_FILL)
            cell.alignment = Alignment(horizontal="center")
            cells.append(cell)
        self.ws.append(cells)

    def row(self, values: Iterable) -> None:
        cells = []
        for value in values:
            value = safe_cell(value)
            if isinstance(value, datetime):
                cell = _cell(self.ws, value)
                cell.number_format = "yyyy-mm-dd hh:mm"
                cells.append(cell)
            else:
                cells.append(value)
        self.ws.append(cells)


def _cell(ws, value):
    from openpyxl.cell import WriteOnlyCell

    return WriteOnlyCell(ws, value=value)


def _column(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _count(condition):
    return func.count(case((condition, literal(1))))


def _month_events(start: datetime, end: datetime):
    return [Event.created_at >= start, Event.created_at < end, Event.status.not_in(rates.EXCLUDED_STATUSES)]


def write_report(session: Session, month: str, out: Path, *, now: datetime | None = None,
                 on_step: Callable[[str], None] = lambda name: None) -> dict:
    """Build the workbook at `out`; returns a small summary (event count, overdue rows, sheets)."""
    start, end = rates.month_range(month)
    now = now or utcnow()
    where = _month_events(start, end)
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    labels = dict(nlp.CATEGORIES)

    # 概况 ------------------------------------------------------------------------------------
    status_counts = dict(session.execute(
        select(Event.status, func.count()).where(Event.created_at >= start, Event.created_at < end)
        .group_by(Event.status)).all())
    total_rates = rates.compute(session, month, "street", now=now).total
    sheet = Sheet(book, "概况", ["项目", "内容"], widths=(22, 100))
    sheet.row(["报表", f"{month} 民情分析（微邻里）"])
    sheet.row(["统计区间（北京时间）", f"{local_text(start, MINUTE)} 至 {local_text(end, MINUTE)}"])
    sheet.row(["生成时间", local_naive(now)])
    sheet.row(["上报事件数（不含撤销、合并、不予受理）", total_rates.reported])
    for status, label in STATUS_LABELS.items():
        sheet.row([f"其中 {label}", status_counts.get(status, 0)])
    for title, key in (("响应率(%)", "response_rate"), ("办结率(%)", "completion_rate"),
                       ("满意率(%)", "satisfaction_rate"), ("综合得分", "composite")):
        value = getattr(total_rates, key)
        sheet.row([title, "—" if value is None else value])
    sheet.row(["未评价", total_rates.unrated])
    sheet.row(["超期督办事件数", total_rates.overdue])
    for index, line in enumerate(rates.DEFINITIONS.splitlines()):
        sheet.row(["口径说明" if index == 0 else "", line])
    on_step("概况")

    # 类别统计 ----------------------------------------------------------------------------------
    by_category = session.execute(
        select(Event.category, func.count(), _count(Event.status.in_(Event.RESOLVED_STATES)),
               _count(or_(Event.overdue.is_(True), Event.overdue_count > 0)))
        .where(*where).group_by(Event.category)).all()
    rated = {row[0]: row[1:] for row in session.execute(
        select(Event.category, *(_count(Rating.value == v) for v in rates.RATING_VALUES))
        .select_from(Rating).join(Event, Event.id == Rating.event_id).where(*where).group_by(Event.category))}
    total = sum(row[1] for row in by_category) or 1
    sheet = Sheet(book, "类别统计", ["类别", "代码", "上报数", "占比(%)", "已办结", "超期督办", *RATING_LABELS.values(),
                                    "满意率(%)"], widths=(14, 14, 10, 10, 10, 10, 8, 10, 8, 8, 10))
    for category, count, done, overdue in sorted(by_category, key=lambda r: -r[1]):
        sat, basic, unsat, unrated = rated.get(category, (0, 0, 0, 0))
        ratio = rates._ratio(sat + basic, sat + basic + unsat)
        sheet.row([labels.get(category, category), category, count, round(100 * count / total, 1), done, overdue,
                   sat, basic, unsat, unrated, "—" if ratio is None else round(ratio, 1)])
    on_step("类别统计")

    # 网格统计 (grid × category) -----------------------------------------------------------------
    cells = session.execute(select(Event.grid_id, Event.category, func.count()).where(*where)
                            .group_by(Event.grid_id, Event.category)).all()
    categories = [c for c in labels if any(row[1] == c for row in cells)]
    categories += sorted({row[1] for row in cells} - set(categories))
    table: dict[int | None, dict[str, int]] = {}
    for grid_id, category, count in cells:
        table.setdefault(grid_id, {})[category] = count
    grids = {g.id: g for g in session.scalars(select(Grid).where(Grid.id.in_([k for k in table if k is not None])))}
    sheet = Sheet(book, "网格统计", ["街道", "社区", "网格", *(labels.get(c, c) for c in categories), "合计"],
                  widths=(14, 14, 18, *([10] * len(categories)), 10))
    names = {key: _grid_columns(grids.get(key)) for key in table}
    for key in sorted(table, key=lambda k: (k is None, names[k])):
        counts = table[key]
        sheet.row([*names[key], *(counts.get(c, 0) for c in categories), sum(counts.values())])
    sheet.row(["合计", "", "", *(sum(t.get(c, 0) for t in table.values()) for c in categories),
               sum(sum(t.values()) for t in table.values())])
    on_step("网格统计")

    # 三率 -----------------------------------------------------------------------------------------
    for by in rates.BY:
        result = rates.compute(session, month, by, now=now)
        title = f"三率-{rates.BY_LABELS[by]}"
        sheet = Sheet(book, title, [c[0] for c in RATE_COLUMNS], widths=(6, 14, 30, *([10] * 16)))
        for rank, row in enumerate(result.rows, 1):
            sheet.row(_rate_values(row, rank))
        sheet.row(_rate_values(result.total, ""))
        on_step(title)

    # 超期督办 ---------------------------------------------------------------------------------------
    late_respond = and_(Event.respond_due_at.is_not(None), or_(
        Event.accepted_at > Event.respond_due_at, and_(Event.accepted_at.is_(None), Event.respond_due_at <= now)))
    late_resolve = and_(Event.resolve_due_at.is_not(None), or_(
        Event.completed_at > Event.resolve_due_at, and_(Event.completed_at.is_(None), Event.resolve_due_at <= now)))
    supervised = or_(Event.overdue.is_(True), Event.overdue_count > 0)
    query = (select(Event.number, Event.created_at, Event.category, Event.grade, Event.status, Event.grid_id,
                    Worker.name, Event.respond_due_at, Event.accepted_at, Event.resolve_due_at, Event.completed_at,
                    Event.overdue_count, late_respond.label("late_respond"), late_resolve.label("late_resolve"),
                    supervised.label("supervised"), Event.phone, Event.place_text, Event.text)
             .outerjoin(Worker, Worker.id == Event.worker_id)
             .where(*where, or_(late_respond, late_resolve, supervised)).order_by(Event.created_at, Event.id))
    sheet = Sheet(book, "超期督办", ["编号", "上报时间", "类别", "等级", "状态", "网格", "网格员", "响应截止",
                                    "接单时间", "办结截止", "办结时间", "督办次数", "超期情形", "联系电话", "地点",
                                    "内容"], widths=(18, 17, 10, 6, 8, 24, 10, 17, 17, 17, 17, 8, 18, 14, 20, 50))
    grid_names = _all_grid_names(session)
    overdue_rows = 0
    for row in session.execute(query.execution_options(yield_per=2000)):
        what = [w for flag, w in ((row.late_respond, "响应超期"), (row.late_resolve, "办结超期"),
                                  (row.supervised, "已督办")) if flag]
        sheet.row([row.number, local_naive(row.created_at), labels.get(row.category, row.category), row.grade,
                   STATUS_LABELS.get(row.status, row.status), grid_names.get(row.grid_id, "未定位"),
                   row.name or "未派单",
                   local_naive(row.respond_due_at), local_naive(row.accepted_at), local_naive(row.resolve_due_at),
                   local_naive(row.completed_at), row.overdue_count, "、".join(what), mask_phone(row.phone) or "",
                   mask_text(row.place_text), mask_text(row.text)[:300]])
        overdue_rows += 1
    on_step("超期督办")

    # 高发地点 -------------------------------------------------------------------------------------
    # The places residents named (地点: the words the grid alias matched, a building, a label).
    place = Event.place_text
    named = (*where, place.is_not(None), place != "")
    top = session.execute(
        select(Event.grid_id, place.label("place"), func.count().label("n"),
               _count(Event.status.in_(Event.OPEN_STATES)).label("open"),
               func.max(Event.category).label("any_category"))
        .where(*named).group_by(Event.grid_id, place).order_by(func.count().desc(), place).limit(TOP_PLACES)).all()
    main = _main_categories(session, named, [(r.grid_id, r.place) for r in top], place)
    sheet = Sheet(book, "高发地点", ["排名", "地点", "网格", "上报数", "未办结", "主要类别"],
                  widths=(6, 30, 30, 10, 10, 12))
    for rank, row in enumerate(top, 1):
        category = main.get((row.grid_id, row.place), row.any_category)
        sheet.row([rank, mask_text(row.place), grid_names.get(row.grid_id, "未定位"), row.n, row.open,
                   labels.get(category, category)])
    on_step("高发地点")

    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    on_step("保存")
    return {"month": month, "events": total_rates.reported, "overdue_rows": overdue_rows, "places": len(top),
            "sheets": list(SHEETS)}


def _rate_values(row: rates.RateRow, rank) -> list:
    data = row.as_dict()
    values = []
    for _, key in RATE_COLUMNS:
        value = rank if key is None else data[key]
        if key == "composite_complete":
            value = "是" if value else "否"
        elif value is None:
            value = "—" if key.endswith(("rate", "composite")) else ""
        values.append(value)
    return values


def _grid_columns(grid: Grid | None) -> list[str]:
    if grid is None:
        return ["", "", "未定位网格"]
    street, community = grid.ancestor("street"), grid.ancestor("community")
    return [street.name if street else "", community.name if community else "",
            grid.name if grid.level not in ("street", "community") else ""]


def _all_grid_names(session: Session) -> dict[int | None, str]:
    return {grid.id: grid.full_name or grid.name for grid in session.scalars(select(Grid))}


def _main_categories(session: Session, where, keys, place) -> dict:
    """The most frequent category at each of the top places (one GROUP BY, picked per place)."""
    if not keys:
        return {}
    grid_ids = {k[0] for k in keys if k[0] is not None}
    rows = session.execute(
        select(Event.grid_id, place.label("place"), Event.category, func.count())
        .where(*where, or_(Event.grid_id.in_(grid_ids), Event.grid_id.is_(None)))
        .group_by(Event.grid_id, place, Event.category)).all()
    wanted, best = set(keys), {}
    for grid_id, where_text, category, count in rows:
        key = (grid_id, where_text)
        if key in wanted and (key not in best or count > best[key][1]):
            best[key] = (category, count)
    return {key: value[0] for key, value in best.items()}
