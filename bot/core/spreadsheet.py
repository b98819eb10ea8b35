"""Spreadsheets people open in Excel / WPS: cells written safely, workbooks read within bounds."""

from __future__ import annotations

import zipfile
from pathlib import Path

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Spreadsheet formula injection: text starting with = + - @ (or a tab / CR) is prefixed with '."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


# ----------------------------------------------------------------------------- reading, bounded

MAX_UNZIPPED = 64 * 1024 * 1024  # all parts of an .xlsx together, uncompressed
MAX_RATIO = 100  # uncompressed / compressed, for any part above 1 MB: more is a zip bomb
MAX_COLUMNS = 32  # the import formats have 4–8 columns


class SpreadsheetError(ValueError):
    """A spreadsheet refused before or while reading it (the message is for the operator, Chinese)."""


def check_xlsx(path: Path) -> None:
    """Refuse a workbook whose parts would blow up when unpacked (a shared-strings bomb: 44 KB that
    openpyxl inflates to hundreds of MB) before openpyxl reads any of it."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SpreadsheetError("不是有效的 XLSX 文件") from exc
    if sum(p.file_size for p in parts) > MAX_UNZIPPED:
        raise SpreadsheetError(f"XLSX 解压后超过 {MAX_UNZIPPED // (1024 * 1024)} MB，已拒绝")
    for part in parts:
        if part.file_size > 1024 * 1024 and part.file_size > MAX_RATIO * max(part.compress_size, 1):
            raise SpreadsheetError(f"XLSX 中的 {part.filename} 压缩比异常（疑似压缩炸弹），已拒绝")


def read_xlsx(path: Path, max_rows: int) -> list[list[str]]:
    """The first sheet's rows as text, at most `max_rows` (more is refused, not read to the end)."""
    check_xlsx(path)
    from openpyxl import load_workbook  # only for .xlsx: keeps it out of the service's start-up

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise SpreadsheetError(f"无法读取 XLSX 文件（{type(exc).__name__}）") from exc
    try:
        sheet = workbook.worksheets[0]
        declared = sheet.max_row if isinstance(sheet.max_row, int) else 0  # the <dimension> tag, if any
        if declared > max_rows:
            raise SpreadsheetError(f"表格有 {declared} 行，超过上限 {max_rows} 行")
        rows = []
        for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
            if len(rows) >= max_rows:
                raise SpreadsheetError(f"表格超过上限 {max_rows} 行")
            rows.append(["" if v is None else str(v).strip() for v in row])
        return rows
    finally:
        workbook.close()


def limit_rows(rows: list[list[str]], max_rows: int) -> list[list[str]]:
    if len(rows) > max_rows:
        raise SpreadsheetError(f"表格有 {len(rows)} 行，超过上限 {max_rows} 行")
    return rows
