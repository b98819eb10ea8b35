"""`weilinli grids import/export` and `db upgrade`, run as the installed command."""

from __future__ import annotations

import csv

from openpyxl import Workbook
from sqlalchemy import func, select

from bot.core import db
from bot.domain.models import Grid, Worker
from bot.places.registry import GRID_HEADER
from tests.support.cli import cli

ROWS = [
    ["武昌区", "中南路街道", "丁字桥社区", "丁字桥一网格", "丁字桥小区|丁香苑", "周丽", "13900000001"],
    ["武昌区", "中南路街道", "丁字桥社区", "丁字桥二网格", "南湖花园", "吴刚", "13900000002"],
    ["武昌区", "中南路街道", "宝通寺社区", "宝通寺网格", "宝通小区", "", ""],
]


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([GRID_HEADER, *rows])
    return path


def counts():
    with db.session_factory()() as session:
        return (session.scalar(select(func.count()).select_from(Grid)),
                session.scalar(select(func.count()).select_from(Worker)))


def test_db_upgrade_command(clean):
    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr


def test_import_csv_is_idempotent(clean, tmp_path):
    path = write_csv(tmp_path / "grids.csv", ROWS)
    first = cli("grids", "import", str(path))
    assert first.returncode == 0, first.stderr
    after_first = counts()
    second = cli("grids", "import", str(path))
    assert second.returncode == 0
    assert counts() == after_first
    with db.session_factory()() as session:
        grid = session.scalar(select(Grid).where(Grid.name == "丁字桥一网格"))
        assert grid.alias_list == ["丁字桥小区", "丁香苑"]
        assert grid.ancestor("street").name == "中南路街道"
        worker = session.scalar(select(Worker).where(Worker.phone == "13900000001"))
        assert worker.name == "周丽" and worker.grid_id == grid.id


def test_import_xlsx(clean, tmp_path):
    book = Workbook()
    book.active.append(GRID_HEADER)
    for row in ROWS:
        book.active.append(row)
    book.save(tmp_path / "grids.xlsx")
    result = cli("grids", "import", str(tmp_path / "grids.xlsx"))
    assert result.returncode == 0, result.stderr
    with db.session_factory()() as session:
        assert session.scalar(select(Grid).where(Grid.name == "宝通寺网格")) is not None


def test_bad_row_is_reported_by_number_and_nothing_is_imported(clean, tmp_path):
    before = counts()
    bad = [*ROWS, ["武昌区", "中南路街道", "", "无名网格", "", "张三", "12345"]]
    result = cli("grids", "import", str(write_csv(tmp_path / "bad.csv", bad)))
    assert result.returncode == 1
    assert "第5行" in result.stderr and "社区为空" in result.stderr and "手机号" in result.stderr
    assert counts() == before


def test_wrong_header_is_refused(clean, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("name,phone\n张三,13900000009\n", encoding="utf-8")
    result = cli("grids", "import", str(path))
    assert result.returncode == 1 and "表头" in result.stderr


def test_imported_alias_routes_a_report(clean, tmp_path, wx):
    cli("grids", "import", str(write_csv(tmp_path / "grids.csv", ROWS)))
    reply = wx.text("o-import", "丁香苑门口的路灯坏了")
    assert "周丽" in reply.text


def test_export_round_trips(clean, tmp_path):
    out = tmp_path / "out.csv"
    result = cli("grids", "export", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert rows[0] == GRID_HEADER
    assert any(r[3] == "幸福家园网格" and r[5] == "王芳" for r in rows[1:])


def test_export_guards_against_formula_injection(clean, tmp_path):
    from bot.domain.models import Grid

    with db.session_scope() as session:
        grid = session.scalar(select(Grid).where(Grid.name == "幸福家园网格"))
        grid.aliases = "=HYPERLINK(\"http://evil\",\"x\")|@SUM(A1)"
    out = tmp_path / "out.xlsx"
    assert cli("grids", "export", str(out)).returncode == 0
    from openpyxl import load_workbook

    values = [c.value for row in load_workbook(out).active.iter_rows() for c in row]
    aliases = next(v for v in values if isinstance(v, str) and "HYPERLINK" in v)
    assert aliases.startswith("'=")
