"""Demo data: a Wuchang-style street (水果湖街道) with two communities and six grids.

Demo grid workers, and the volunteer 周红, are pre-bound to simulator personas, so their pushes show
in the simulator.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.models import Grid, Worker
from bot.places.registry import _upsert_grid

DISTRICT, STREET = "武昌区", "水果湖街道"
# community, grid, aliases, worker, phone, (lat, lng) of the grid's centre
GRIDS = [
    ("东亭社区", "东亭一网格", "东亭小区|东亭花园", "张敏", "13800000001", (30.5532, 114.3521)),
    ("东亭社区", "东亭二网格", "省委宿舍|东亭二村", "李强", "13800000002", (30.5552, 114.3561)),
    ("东亭社区", "幸福家园网格", "幸福家园|幸福小区", "王芳", "13800000003", (30.5572, 114.3501)),
    ("翠柳社区", "翠柳一网格", "翠柳村|翠柳小区", "赵磊", "13800000004", (30.5492, 114.3481)),
    ("翠柳社区", "水果湖一网格", "水果湖小区|湖滨花园", "陈静", "13800000005", (30.5512, 114.3441)),
    ("翠柳社区", "中北路网格", "中北路|中北花园", "刘洋", "13800000006", (30.5472, 114.3421)),
]
# Volunteers (志愿者): name, phone, skills ("|"-separated, as in the roster), grid, simulator OpenID or None.
VOLUNTEERS = [
    ("周红", "13800000011", "磨刀|修伞|补鞋", "翠柳一网格", "o-demo-volunteer-1"),
    ("孙伟", "13800000012", "磨刀|家电维修|水电小修", "翠柳一网格", None),
    ("吴丽", "13800000013", "理发|陪同就医|上门助老|代买代办", "幸福家园网格", None),
]
HALF = 0.0009  # half the side of each grid's square polygon, in degrees (~100 m)


def persona_openid(index: int) -> str:
    return f"o-demo-worker-{index}"


def square(lat: float, lng: float) -> str:
    corners = [(lng - HALF, lat - HALF), (lng + HALF, lat - HALF), (lng + HALF, lat + HALF), (lng - HALF, lat + HALF)]
    ring = ", ".join(f"{x:.6f} {y:.6f}" for x, y in [*corners, corners[0]])
    return f"POLYGON(({ring}))"


def load_duty_roster(session: Session) -> None:
    """The demo street's duty roster: 张敏 is on duty, so an urgent report whose place is not known
    reaches someone in the simulator (the tests' sample has no roster: they build their own)."""
    from bot.places.duty import put_on_duty

    street = session.scalar(select(Grid).where(Grid.name == STREET, Grid.level == "street"))
    worker = session.scalar(select(Worker).where(Worker.openid == persona_openid(1)))
    if street is not None and worker is not None:
        put_on_duty(session, street, worker=worker)


def load(session: Session) -> None:
    """Idempotent: running it twice leaves one copy."""
    district, _ = _upsert_grid(session, None, "district", DISTRICT)
    district.duty_phone = "027-87654321"
    street, _ = _upsert_grid(session, district, "street", STREET)
    for index, (community_name, grid_name, aliases, worker, phone, (lat, lng)) in enumerate(GRIDS, 1):
        community, _ = _upsert_grid(session, street, "community", community_name)
        community.duty_phone = "027-8765432" + str(index % 2)
        grid, _ = _upsert_grid(session, community, "grid", grid_name)
        grid.aliases, grid.lat, grid.lng, grid.polygon_wkt = aliases, lat, lng, square(lat, lng)
        found = session.scalar(select(Worker).where(Worker.phone == phone))
        if found is None:
            session.add(Worker(name=worker, phone=phone, role="grid_worker", grid=grid, openid=persona_openid(index)))
    session.flush()
    for name, phone, skills, grid_name, openid in VOLUNTEERS:
        if session.scalar(select(Worker).where(Worker.phone == phone)) is None:
            grid = session.scalar(select(Grid).where(Grid.name == grid_name, Grid.level == "grid"))
            session.add(Worker(name=name, phone=phone, role="volunteer", skills=skills, grid=grid, openid=openid))
    session.flush()
