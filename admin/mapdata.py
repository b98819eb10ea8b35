"""The map (网格地图): GeoJSON of the stored grid polygons with each grid's open and overdue events,
and the events that carry coordinates as points. No tile server: ECharts draws the polygons alone.

Counts are of the grid and everything below it (a 楼栋 counts for its 网格), within the user's scope.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

import nlp
from admin import queries
from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event, User

POINT_LIMIT = 2000


def geometry(wkt_text: str | None) -> dict | None:
    """WKT POLYGON / MULTIPOLYGON → a GeoJSON geometry (shapely's mapping)."""
    if not wkt_text:
        return None
    from shapely import wkt  # GEOS, as the grid index loads it
    from shapely.geometry import mapping

    try:
        shape = wkt.loads(wkt_text)
    except Exception:  # a broken stored polygon is listed as "no polygon", not a 500
        return None
    found = mapping(shape)
    return {"type": found["type"], "coordinates": _lists(found["coordinates"])}


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def map_data(session: Session, user: User) -> dict:
    grids = [g for g in queries.visible_grids(session, user) if g.level in ("grid", "building")]
    open_ = func.sum(case((Event.status.in_(Event.OPEN_STATES), 1), else_=0))
    late = func.sum(case((and_(queries.overdue_clause(), Event.status.in_(Event.OPEN_STATES)), 1), else_=0))
    counts = {gid: (int(o or 0), int(d or 0), n) for gid, o, d, n in session.execute(
        queries.scoped(session, user, select(Event.grid_id, open_, late, func.count(Event.id)))
        .where(Event.grid_id.is_not(None)).group_by(Event.grid_id))}
    features, without = [], []
    for grid in grids:
        below = queries.subtree_ids(session, grid.id) if grid.level == "grid" else [grid.id]
        open_n = sum(counts.get(i, (0, 0, 0))[0] for i in below)
        overdue_n = sum(counts.get(i, (0, 0, 0))[1] for i in below)
        total = sum(counts.get(i, (0, 0, 0))[2] for i in below)
        props = {"id": grid.id, "name": grid.name, "full_name": grid.full_name, "open": open_n,
                 "overdue": overdue_n, "total": total, "link": f"/admin/events?grid={grid.id}&status=open"}
        shape = geometry(grid.polygon_wkt)
        if shape is None:
            without.append(props)
        else:
            features.append({"type": "Feature", "properties": props, "geometry": shape})
    points = []
    query = queries.scoped(session, user, select(Event)).where(Event.lat.is_not(None), Event.lng.is_not(None),
                                                               Event.status.in_(Event.OPEN_STATES))
    for event in session.scalars(query.order_by(Event.id.desc()).limit(POINT_LIMIT)):
        points.append({"number": event.number, "lat": event.lat, "lng": event.lng, "status": event.status,
                       "status_label": STATUS_LABELS[event.status], "category": nlp.category_label(event.category),
                       "overdue": bool(event.overdue), "urgent": bool(event.urgent)})
    return {"geojson": {"type": "FeatureCollection", "features": features}, "without": without, "points": points}
