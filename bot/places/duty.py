"""Who is on duty, and the duty phone: for urgent reports, whether or not the grid is known.

The duty phone is the community's (the grids import's 值班电话 column), else its street's or
district's, and only then the configured fallback. The duty roster (值班表) lists the people on
duty for a community, street or district; an urgent report reaches the grid's workers when the
grid is known, else the roster of the resident's community, street or district, else every
street's roster, else the configured dispatchers (WEILINLI_DISPATCHER_OPENIDS) as the last resort.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.models import DutyEntry, Grid, Worker
from settings import get_settings


@dataclass(frozen=True)
class OnDuty:
    """One person to alert: a worker (who may 接单) or a dispatcher reached on WeChat."""

    openid: str
    name: str
    title: str  # 网格员 / 值班人员 / 值班调度员
    worker_id: int | None = None

    @property
    def label(self) -> str:
        """How the resident is told who was alerted: 网格员王芳, 值班人员张敏, 指挥中心值班调度员."""
        return f"{self.title}{self.name}"


def duty_phone(grid: Grid | None) -> str:
    """The community's duty phone from the grid tree, else the nearest ancestor's, else the setting."""
    node = grid
    while node is not None:
        if node.level in ("community", "street", "district") and node.duty_phone:
            return node.duty_phone
        node = node.parent
    return get_settings().duty_phone


def grid_workers(session: Session, grid: Grid) -> list[OnDuty]:
    """The bound grid workers of the grid itself (a building: its grid), nearest level first."""
    node: Grid | None = grid
    while node is not None and node.level not in ("community", "street", "district"):
        workers = list(session.scalars(
            select(Worker).where(Worker.grid_id == node.id, Worker.role == "grid_worker",
                                 Worker.active.is_(True), Worker.openid.is_not(None)).order_by(Worker.id)))
        if workers:
            return [OnDuty(w.openid, w.name, "网格员", w.id) for w in workers]
        node = node.parent
    return []


def roster(session: Session, node: Grid) -> list[OnDuty]:
    """The people on duty for `node` (a community, street or district)."""
    entries = session.scalars(select(DutyEntry).where(DutyEntry.grid_id == node.id, DutyEntry.active.is_(True))
                              .order_by(DutyEntry.id))
    return [_on_duty(e) for e in entries if e.worker is None or e.worker.active]


def _on_duty(entry: DutyEntry) -> OnDuty:
    return OnDuty(entry.openid, entry.name, entry.title, entry.worker_id)


def street_rosters(session: Session) -> list[OnDuty]:
    """Everyone on duty at street level: an urgent report from nowhere known may be in any street."""
    entries = session.scalars(select(DutyEntry).join(Grid, DutyEntry.grid_id == Grid.id)
                              .where(Grid.level == "street", DutyEntry.active.is_(True)).order_by(DutyEntry.id))
    return [_on_duty(e) for e in entries]


def dispatchers() -> list[OnDuty]:
    openids = (o.strip() for o in get_settings().dispatcher_openids.split(","))
    return [OnDuty(openid, "", "指挥中心值班调度员") for openid in openids if openid]


def to_alert(session: Session, grid: Grid | None, near: Grid | None) -> tuple[list[OnDuty], str]:
    """Whom an urgent report reaches, and how they are described to the resident: the grid's
    workers when `grid` is known; else the rosters from `near` (the resident's last known grid) up;
    else every street's roster; else the dispatchers."""
    if grid is not None:
        found = grid_workers(session, grid)
        if found:
            return found, "网格员"
    node = grid or near
    while node is not None:
        if node.level in ("community", "street", "district"):
            found = roster(session, node)
            if found:
                return found, f"{node.name}值班人员"
        node = node.parent
    found = street_rosters(session)
    if found:
        return found, "街道值班人员"
    return dispatchers(), "指挥中心值班调度员"


def put_on_duty(session: Session, node: Grid, *, worker: Worker | None = None, openid: str = "", name: str = "",
                title: str = "") -> DutyEntry:
    """Add someone to a community's, street's or district's roster (idempotent per node and OpenID)."""
    if node.level not in ("community", "street", "district"):
        raise ValueError("值班表只能设在社区、街道或区")
    openid = (worker.openid if worker is not None else openid) or ""
    if not openid:
        raise ValueError("值班人员需要已绑定微信（OpenID）")
    found = session.scalar(select(DutyEntry).where(DutyEntry.grid_id == node.id, DutyEntry.openid == openid))
    if found is None:
        found = DutyEntry(grid=node, openid=openid)
        session.add(found)
    found.worker = worker
    found.name = (worker.name if worker is not None else name) or "值班人员"
    found.title = title or ("值班人员" if worker is not None else "值班调度员")
    found.active = True
    session.flush()
    return found
