"""Files in and out of the admin API: reading an upload, an all-or-nothing import, writing XLSX / CSV
(every cell guarded against formula injection) and answering with a download."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from admin.deps import staff_shown
from bot.core.spreadsheet import safe_cell
from bot.domain.models import LoginSession
from bot.domain.vocabulary import STAMP, local_now, local_text
from bot.places import registry
from settings import get_settings

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def upload(request: Request) -> tuple[str, bytes]:
    """The uploaded `file` (CSV or XLSX, at most WEILINLI_MAX_UPLOAD, 5 MB): (suffix, bytes)."""
    limit = get_settings().max_upload
    form = await request.form()
    item = form.get("file")
    if item is None or not hasattr(item, "read"):
        raise HTTPException(400, "请选择要导入的文件（file）")
    data = await item.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"文件过大（上限 {limit // (1024 * 1024)} MB）")
    suffix = Path(item.filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise HTTPException(400, "仅支持 CSV 或 XLSX 文件")
    return suffix, data


def run_import(session: Session, function, suffix: str, data: bytes):
    """`function(session, path)` in a savepoint: a bad row changes nothing and answers 400 with the rows."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            with session.begin_nested():
                return function(session, path)
        except registry.RegistryError as exc:
            raise HTTPException(400, {"message": "导入失败，未做任何修改", "errors": exc.errors}) from exc


def unscoped(login: LoginSession) -> None:
    if login.user.scope_grid_id is not None:
        raise HTTPException(403, "导入会修改全区数据，请由未限定辖区的管理员或调度员操作")


def shown_rows(login: LoginSession, rows: list[list]) -> list[list]:
    """Staff rosters (grids and workers, volunteers): the header and the rows, each text cell as this
    login may see staff contacts (bot.domain.privacy)."""
    text, _ = staff_shown(login)
    return [rows[0]] + [[text(c) if isinstance(c, str) else c for c in row] for row in rows[1:]]


def spreadsheet(rows: list[list], sheet_name: str, widths: list[int] | None = None) -> bytes:
    """An XLSX file of `rows` (header first), safe against formula injection."""
    from openpyxl import Workbook  # only for exports: keeps it out of start-up
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


def csv_bytes(rows: list[list]) -> bytes:
    """CSV with a BOM (Excel opens it as UTF-8), formula-guarded like the XLSX."""
    out = io.StringIO()
    csv.writer(out).writerows([[safe_cell(c) for c in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode()


def stamped(name: str, suffix: str) -> str:
    """网格与网格员 → 网格与网格员_20261123.xlsx (today, local)."""
    return f"{name}_{local_text(local_now(), STAMP)}.{suffix}"


def download(data: bytes, filename: str, media_type: str = XLSX) -> Response:
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"export\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})
