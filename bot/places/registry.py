"""Grids and workers in and out of spreadsheets (street offices live in Excel).

Import is all-or-nothing: every row is checked first, errors name their row number, and only a
clean file is written, as one idempotent upsert.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import spreadsheet
from bot.domain.models import Grid, Worker
from settings import get_settings

GRID_HEADER = ["区", "街道", "社区", "网格", "别名", "网格员", "手机号"]
DUTY_PHONE = "值班电话"  # optional last column: the community's duty phone, told to urgent reporters
PHONE = re.compile(r"^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")
LEVELS = ("district", "street", "community", "grid")


class RegistryError(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class ImportResult:
    rows: int
    grids_created: int
    workers_created: int
    workers_updated: int


def read_rows(path: Path) -> list[list[str]]:
    """All rows (header first) of a CSV (UTF-8, with or without BOM, or GBK) or XLSX file."""
    max_rows = get_settings().max_import_rows + 1  # the header too
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return spreadsheet.read_xlsx(path, max_rows)
        return spreadsheet.limit_rows(_read_csv(path), max_rows)
    except spreadsheet.SpreadsheetError as exc:
        raise RegistryError([str(exc)]) from exc


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gbk"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RegistryError(["文件编码无法识别（请使用 UTF-8 或 GBK）"])
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]


def _check_header(rows: list[list[str]], header: list[str]) -> None:
    if not rows or [c for c in rows[0][: len(header)]] != header:
        raise RegistryError([f"第1行：表头应为 {','.join(header)}"])


def data_rows(path: Path, header: list[str], optional: tuple[str, ...] = ()) -> Iterator[tuple[int, list[str]]]:
    """The rows below the header, numbered as the spreadsheet shows them (the header is row 1) and
    padded or cut to the header's width; blank rows are skipped. A wrong header raises RegistryError.
    `optional` columns follow the header when the file has them (in that order); their cells are
    "" when it has not."""
    rows = read_rows(path)
    _check_header(rows, header)
    given = rows[0][len(header):]
    have = next((i for i, name in enumerate(optional) if i >= len(given) or given[i] != name), len(optional))
    width, full = len(header) + have, len(header) + len(optional)
    for number, row in enumerate(rows[1:], start=2):
        if any(row):
            yield number, (row + [""] * width)[:width] + [""] * (full - width)


def import_grids(session: Session, path: Path) -> ImportResult:
    errors, records = [], []
    phones: dict[str, int] = {}
    for number, row in data_rows(path, GRID_HEADER, optional=(DUTY_PHONE,)):
        district, street, community, grid, aliases, worker, phone, duty_phone = row
        problems = [f"{name}为空" for name, value in zip(GRID_HEADER[:4], row[:4], strict=True) if not value]
        if worker and not phone:
            problems.append("有网格员但缺少手机号")
        if phone and not PHONE.match(phone):
            problems.append(f"手机号格式不正确：{phone}")
        if phone and phones.get(phone) not in (None, number) and worker:
            problems.append(f"手机号与第{phones[phone]}行重复")
        if duty_phone and not PHONE.match(duty_phone):
            problems.append(f"值班电话格式不正确：{duty_phone}")
        if any(len(v) > 64 for v in row[:4]) or len(aliases) > 500:
            problems.append("名称过长")
        if problems:
            errors.append(f"第{number}行：" + "；".join(problems))
            continue
        if phone:
            phones.setdefault(phone, number)
        records.append((district, street, community, grid, aliases, worker, phone, duty_phone))
    if errors:
        raise RegistryError(errors)
    result = ImportResult(rows=len(records), grids_created=0, workers_created=0, workers_updated=0)
    for district, street, community, grid_name, aliases, worker_name, phone, duty_phone in records:
        parent = None
        for level, name in zip(LEVELS, (district, street, community, grid_name), strict=True):
            parent, created = _upsert_grid(session, parent, level, name)
            result.grids_created += created
            if level == "community" and duty_phone:
                parent.duty_phone = duty_phone
        if aliases.strip():  # an empty 别名 cell leaves the grid's aliases alone (it does not wipe them)
            parent.aliases = "|".join(dict.fromkeys(a.strip() for a in aliases.split("|") if a.strip()))
        if worker_name:
            found = session.scalar(select(Worker).where(Worker.phone == phone))
            if found is None:
                session.add(Worker(name=worker_name, phone=phone, role="grid_worker", grid=parent))
                result.workers_created += 1
            else:
                found.name, found.grid, found.role, found.active = worker_name, parent, "grid_worker", True
                result.workers_updated += 1
        session.flush()
    return result


def _upsert_grid(session: Session, parent: Grid | None, level: str, name: str) -> tuple[Grid, int]:
    query = select(Grid).where(Grid.name == name, Grid.level == level)
    query = query.where(Grid.parent_id == parent.id) if parent else query.where(Grid.parent_id.is_(None))
    found = session.scalar(query)
    if found is not None:
        return found, 0
    grid = Grid(name=name, level=level, parent=parent, aliases="")
    session.add(grid)
    session.flush()
    return grid, 1


def export_grids(session: Session) -> list[list[str]]:
    rows = [GRID_HEADER]
    for grid in session.scalars(select(Grid).where(Grid.level == "grid").order_by(Grid.id)):
        names = {g.level: g.name for g in grid.path}
        workers = session.scalars(select(Worker).where(Worker.grid_id == grid.id, Worker.role == "grid_worker"))
        people = list(workers) or [None]
        for worker in people:
            rows.append([names.get("district", ""), names.get("street", ""), names.get("community", ""),
                         grid.name, grid.aliases or "", worker.name if worker else "", worker.phone if worker else ""])
    return rows
