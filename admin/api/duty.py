"""The duty roster (值班表) for urgent reports whose grid is not known: who is on duty for a
community, street or district. A grid worker is named by id or phone (their WeChat must be
bound); a dispatcher on WeChat by `openid` and `name`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from admin import auth
from admin.deps import DB, Actor, Body, Viewer, pick_person, text_field
from bot.domain.models import DutyEntry, Grid
from bot.places import duty

router = APIRouter(prefix="/api", tags=["dispatcher"])


def _json(entry: DutyEntry) -> dict:
    return {"id": entry.id, "grid_id": entry.grid_id, "grid": entry.grid.name, "name": entry.name,
            "title": entry.title, "worker_id": entry.worker_id, "active": entry.active}


@router.get("/duty")
def roster(session: DB, login: Viewer) -> dict:
    """Everyone on duty, by community, street or district."""
    entries = session.scalars(select(DutyEntry).where(DutyEntry.active.is_(True)).order_by(DutyEntry.grid_id))
    return {"duty": [_json(e) for e in entries if auth.in_scope(login.user, e.grid)]}


@router.post("/duty")
def put_on_duty(session: DB, login: Actor, body: Body) -> dict:
    """`grid_id` (a community, street or district) and `worker_id`/`worker_phone`, or `openid` + `name`."""
    try:
        node = session.get(Grid, int(body.get("grid_id") or 0))
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, "grid_id 应为数字") from exc
    if node is None or not auth.in_scope(login.user, node):
        raise HTTPException(404, "未找到该社区/街道")
    worker = None
    if any(body.get(k) for k in ("worker_id", "worker_phone", "worker_name", "worker")):
        worker = pick_person(session, body, role="grid_worker", key="worker", label="网格员")
    try:
        entry = duty.put_on_duty(session, node, worker=worker, openid=text_field(body, "openid"),
                                 name=text_field(body, "name"), title=text_field(body, "title"))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return _json(entry)


@router.delete("/duty/{entry_id}")
def off_duty(entry_id: int, session: DB, login: Actor) -> dict:
    entry = session.get(DutyEntry, entry_id)
    if entry is None or not auth.in_scope(login.user, entry.grid):
        raise HTTPException(404, "未找到该值班记录")
    entry.active = False
    return _json(entry)
