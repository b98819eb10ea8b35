"""The grid tree: listed within scope, imported from a spreadsheet, exported in the import format."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

import nlp
from admin import queries
from admin.api import files
from admin.deps import DB, Actor, Viewer
from admin.pool import run_heavy
from admin.present import grid_json
from bot.domain.models import Grid
from bot.places import registry

router = APIRouter(prefix="/api", tags=["dispatcher pages"])


@router.get("/grids")
def grids(session: DB, login: Viewer) -> list[dict]:
    """The grid tree within the user's scope, parents before children."""
    return [grid_json(g) for g in queries.visible_grids(session, login.user)]


@router.post("/grids/import")
async def import_grids(request: Request, session: DB, login: Actor) -> dict:
    """Upload `file` (CSV or XLSX, header 区,街道,社区,网格,别名,网格员,手机号): all-or-nothing upsert."""
    files.unscoped(login)
    suffix, data = await files.upload(request)
    result = await run_heavy(_import, session, suffix, data)  # parsing and writing off the event loop
    return {"ok": True, "rows": result.rows, "grids_created": result.grids_created,
            "workers_created": result.workers_created, "workers_updated": result.workers_updated}


def _import(session, suffix: str, data: bytes):
    result = files.run_import(session, registry.import_grids, suffix, data)
    nlp.add_user_words([g.name for g in session.scalars(select(Grid))], places=True)
    return result


@router.get("/grids/export")
def export_grids(session: DB, login: Viewer, format: str = "xlsx") -> Response:
    """The grids and their workers in the import format (xlsx or csv); within scope."""
    rows = registry.export_grids(session)
    if login.user.scope_grid_id is not None:
        visible = {g.full_name for g in queries.visible_grids(session, login.user)}
        rows = [rows[0]] + [r for r in rows[1:] if f"{r[1]}{r[2]}{r[3]}" in visible]
    rows = files.shown_rows(login, rows)
    if format == "csv":
        return files.download(files.csv_bytes(rows), files.stamped("网格与网格员", "csv"), "text/csv; charset=utf-8")
    return files.download(files.spreadsheet(rows, "网格", [12, 14, 14, 16, 24, 10, 16]),
                          files.stamped("网格与网格员", "xlsx"))
