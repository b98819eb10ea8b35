"""三率考核: response, completion and satisfaction rates per worker / grid / community / street and month.

Pure SQL aggregation: two GROUP BY queries in the database (one over the month's events, one over
the ratings of those events), merged per group. Nothing here loops over events in Python; on
PostgreSQL the covering indexes of migration 0005 make every scan index-only (bench/rates_bench.py).

Definitions (``DEFINITIONS`` is the Chinese text the API and the workbook show):

- the population is the events *reported* in the month (the Asia/Shanghai calendar month of
  ``created_at``), except cancelled / merged / rejected ones;
- response rate R = accepted within the response limit (``accepted_at ≤ respond_due_at``) / events
  due for response (``respond_due_at`` set and either accepted or ``respond_due_at ≤ now``);
- completion rate C = completed within the resolve limit (``completed_at ≤ resolve_due_at``) /
  events due for completion (``resolve_due_at`` set and either completed or ``resolve_due_at ≤ now``);
- satisfaction rate S = (满意 + 基本满意) / (满意 + 基本满意 + 不满意) over every Rating row of those
  events (each rater and each round counts); 未评价 never counts as satisfied and is reported apart;
- each rate is a percentage rounded to 0.1; a rate whose denominator is empty is null;
- composite = 0.1·R + 0.4·C + 0.5·S, computed from the unrounded rates and rounded to 0.1; when a
  rate is null the composite re-weights the available ones (e.g. no ratings yet:
  (0.1·R + 0.4·C) / 0.5); with no rate available it is null. ``composite_complete`` says whether
  all three rates went into it.

The due / accepted / completed times are those of the event's *current* deadline round (a reopen or
an escalation starts a new round), which is what the lifecycle stores.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.models import Event, Grid, Rating, Worker
from bot.domain.vocabulary import MONTH, RATING_LABELS, local_iso, local_text, local_zone
from settings import get_settings

BY = ("worker", "grid", "community", "street")
BY_LABELS = {"worker": "网格员", "grid": "网格", "community": "社区", "street": "街道"}
WEIGHTS = {"response_rate": 0.1, "completion_rate": 0.4, "satisfaction_rate": 0.5}
EXCLUDED_STATUSES = ("cancelled", "merged", "rejected")
RATING_VALUES = tuple(RATING_LABELS)  # satisfied, basic, unsatisfied, unrated
UNASSIGNED = {"worker": "未派单", "grid": "未定位网格", "community": "未归属社区", "street": "未归属街道"}
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")

DEFINITIONS = "\n".join([
    "统计范围：当月（北京时间）上报的事件，不含已撤销、已合并、不予受理的事件；按事件当前处置轮次的时限计算。",
    "响应率（权重10%）= 在响应时限内接单的事件数（接单时间 ≤ 响应截止时间）÷ 应响应事件数"
    "（已设响应截止时间，且已接单或响应截止时间已到）。",
    "办结率（权重40%）= 在办结时限内办结的事件数（办结时间 ≤ 办结截止时间）÷ 应办结事件数"
    "（已设办结截止时间，且已办结或办结截止时间已到）。",
    "满意率（权重50%）=（满意 + 基本满意）÷（满意 + 基本满意 + 不满意），按这些事件的全部评价记录计"
    "（每位评价人、每一轮评价各计一次）；未评价不计为满意，也不计入分母，单独列出。",
    "各率以百分数表示，保留一位小数；分母为0的率记为空（—）。",
    "综合得分 = 0.1×响应率 + 0.4×办结率 + 0.5×满意率（以未取整的三率计算后保留一位小数）；"
    "某率为空时，按其余有值的率的权重重新归一计算（例如尚无评价时 =（0.1×响应率 + 0.4×办结率）÷ 0.5），"
    "三率均为空时综合得分为空；composite_complete 标明三率是否齐全。",
    "超期督办数：当前轮次被督办（超期）过的事件数。",
])

DEFINITION_ITEMS = {
    "scope": "当月（北京时间）上报的事件，不含已撤销、已合并、不予受理",
    "response_rate": "响应时限内接单数 ÷ 应响应数（已接单或响应截止已到），权重10%",
    "completion_rate": "办结时限内办结数 ÷ 应办结数（已办结或办结截止已到），权重40%",
    "satisfaction_rate": "（满意+基本满意）÷（满意+基本满意+不满意），每条评价记录计一次；未评价单列，权重50%",
    "composite": "0.1R + 0.4C + 0.5S；某率为空时按其余权重归一，三率皆空则为空",
}


class RatesError(ValueError):
    """A bad month or grouping: the API answers 400 with this message."""


@dataclass
class RateRow:
    key: int | None
    name: str
    reported: int = 0
    respond_due: int = 0
    respond_on_time: int = 0
    resolve_due: int = 0
    resolve_on_time: int = 0
    satisfied: int = 0
    basic: int = 0
    unsatisfied: int = 0
    unrated: int = 0
    overdue: int = 0
    belongs_to: str | None = None  # 所属: a worker's grid, a grid's community, …
    response_rate: float | None = field(default=None, init=False)
    completion_rate: float | None = field(default=None, init=False)
    satisfaction_rate: float | None = field(default=None, init=False)
    composite: float | None = field(default=None, init=False)
    composite_complete: bool = field(default=False, init=False)

    COUNTS = ("reported", "respond_due", "respond_on_time", "resolve_due", "resolve_on_time",
              "satisfied", "basic", "unsatisfied", "unrated", "overdue")

    @property
    def rated(self) -> int:
        """The satisfaction denominator: 满意 + 基本满意 + 不满意 (未评价 excluded)."""
        return self.satisfied + self.basic + self.unsatisfied

    def compute(self) -> RateRow:
        exact = {
            "response_rate": _ratio(self.respond_on_time, self.respond_due),
            "completion_rate": _ratio(self.resolve_on_time, self.resolve_due),
            "satisfaction_rate": _ratio(self.satisfied + self.basic, self.rated),
        }
        for name, value in exact.items():
            setattr(self, name, None if value is None else round(value, 1))
        self.composite, self.composite_complete = composite(exact)
        return self

    def as_dict(self) -> dict:
        data = asdict(self)
        data["rated"] = self.rated
        return data


def _ratio(numerator: int, denominator: int) -> float | None:
    return 100.0 * numerator / denominator if denominator else None


def composite(rates: dict[str, float | None]) -> tuple[float | None, bool]:
    """0.1·R + 0.4·C + 0.5·S over the rates that exist, re-weighted; (score, all three present)."""
    present = {k: v for k, v in rates.items() if v is not None}
    if not present:
        return None, False
    weight = sum(WEIGHTS[k] for k in present)
    score = sum(WEIGHTS[k] * v for k, v in present.items()) / weight
    return round(score + 1e-9, 1), len(present) == len(WEIGHTS)


@dataclass
class RatesReport:
    month: str
    by: str
    start: datetime
    end: datetime
    now: datetime
    rows: list[RateRow]
    total: RateRow

    def as_dict(self) -> dict:
        return {
            "month": self.month,
            "by": self.by,
            "by_label": BY_LABELS[self.by],
            "timezone": get_settings().timezone,
            "from": local_iso(self.start),
            "to": local_iso(self.end),
            "as_of": local_iso(self.now),
            "weights": {"response": 0.1, "completion": 0.4, "satisfaction": 0.5},
            "definitions": DEFINITIONS,
            "definition_items": DEFINITION_ITEMS,
            "total": self.total.as_dict(),
            "rows": [row.as_dict() for row in self.rows],
        }


def current_month(now: datetime | None = None) -> str:
    return local_text(now or utcnow(), MONTH)


def month_range(month: str) -> tuple[datetime, datetime]:
    """`YYYY-MM` → [start, end) in UTC of that Asia/Shanghai (settings.timezone) calendar month."""
    found = MONTH_RE.match(month or "")
    if not found:
        raise RatesError("month 应为 YYYY-MM 格式，例如 2026-11")
    year, mon = int(found.group(1)), int(found.group(2))
    if not (1 <= mon <= 12 and 2000 <= year <= 2100):
        raise RatesError("month 超出范围（2000-01 至 2100-12）")
    tz = local_zone()
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def ancestry():
    """A small recursive CTE over the grid tree: (node, anc, anc_level) for every node and each of
    its ancestors, the node itself included."""
    parent = Grid.__table__.alias("parent_grid")
    grid = Grid.__table__
    base = select(grid.c.id.label("node"), grid.c.id.label("anc"), grid.c.level.label("anc_level"),
                  grid.c.parent_id.label("up")).cte("grid_ancestry", recursive=True)
    step = select(base.c.node, parent.c.id, parent.c.level, parent.c.parent_id).join(
        parent, parent.c.id == base.c.up)
    return base.union_all(step)


def _filters(start: datetime, end: datetime, anc, scope_grid_id: int | None) -> list:
    conditions = [Event.created_at >= start, Event.created_at < end, Event.status.not_in(EXCLUDED_STATUSES)]
    if scope_grid_id is not None:
        conditions.append(Event.grid_id.in_(select(anc.c.node).where(anc.c.anc == scope_grid_id)))
    return conditions


def _grouping(by: str, anc):
    """(key column, extra join target or None)."""
    if by == "worker":
        return Event.worker_id, None
    if by == "grid":
        return Event.grid_id, None
    level = select(anc.c.node, anc.c.anc).where(anc.c.anc_level == by).subquery(f"{by}_of")
    return level.c.anc, level


def compute(session: Session, month: str, by: str = "grid", *, now: datetime | None = None,
            scope_grid_id: int | None = None) -> RatesReport:
    """The three rates and the composite score of `month` grouped `by`; limited to the subtree of
    `scope_grid_id` (a scoped dispatcher's street or district) when given."""
    if by not in BY:
        raise RatesError(f"by 应为 {' | '.join(BY)} 之一")
    start, end = month_range(month)
    now = now or utcnow()
    anc = ancestry()
    key, level = _grouping(by, anc)
    where = _filters(start, end, anc, scope_grid_id)

    def count(condition):  # count(*) FILTER (WHERE …): PostgreSQL, and SQLite ≥ 3.30
        return func.count().filter(condition)

    def grouped(query):
        if level is not None:
            query = query.outerjoin(level, level.c.node == Event.grid_id)
        return query.where(*where).group_by(key)

    respond_set, resolve_set = Event.respond_due_at.is_not(None), Event.resolve_due_at.is_not(None)
    accepted, completed = Event.accepted_at.is_not(None), Event.completed_at.is_not(None)
    events = grouped(select(
        key.label("key"),
        func.count().label("reported"),
        count(and_(respond_set, or_(accepted, Event.respond_due_at <= now))).label("respond_due"),
        count(and_(respond_set, accepted, Event.accepted_at <= Event.respond_due_at)).label("respond_on_time"),
        count(and_(resolve_set, or_(completed, Event.resolve_due_at <= now))).label("resolve_due"),
        count(and_(resolve_set, completed, Event.completed_at <= Event.resolve_due_at)).label("resolve_on_time"),
        count(or_(Event.overdue.is_(True), Event.overdue_count > 0)).label("overdue"),
        func.min(Event.id).label("lo"),
        func.max(Event.id).label("hi"),
    ).select_from(Event))

    rows: dict[int | None, RateRow] = {}
    lowest = highest = None
    for found in session.execute(events).mappings():
        lowest = found["lo"] if lowest is None else min(lowest, found["lo"])
        highest = found["hi"] if highest is None else max(highest, found["hi"])
        rows[found["key"]] = RateRow(key=found["key"], name="", **{k: found[k] for k in RateRow.COUNTS
                                                                   if k in found})
    if rows:
        # The counted events lie in the id range [lowest, highest] the first query found: bounding
        # rating.event_id by it lets PostgreSQL read only that slice of the rating index (ids grow
        # with created_at, so it is about one month's worth). It is a superset bound, so the result
        # is right whatever the ids are; the join to the events does the real filtering.
        ratings = grouped(select(key.label("key"), *(count(Rating.value == v).label(v) for v in RATING_VALUES))
                          .select_from(Rating).join(Event, Event.id == Rating.event_id)
                          .where(Rating.event_id.between(lowest, highest)))
        for found in session.execute(ratings).mappings():
            row = rows.setdefault(found["key"], RateRow(key=found["key"], name=""))
            for value in RATING_VALUES:
                setattr(row, value, found[value])
    _name(session, by, rows)
    total = RateRow(key=None, name="合计")
    for row in rows.values():
        row.compute()
        for name in RateRow.COUNTS:
            setattr(total, name, getattr(total, name) + getattr(row, name))
    total.compute()
    ordered = sorted(rows.values(), key=lambda r: (r.key is None, -(r.composite if r.composite is not None else -1),
                                                   -r.reported, r.name))
    return RatesReport(month, by, start, end, now, ordered, total)


def _name(session: Session, by: str, rows: dict[int | None, RateRow]) -> None:
    """Names and 所属 of the groups, from plain column tuples (no ORM objects: this runs per request)."""
    if None in rows:
        rows[None].name = UNASSIGNED[by]
    keys = [k for k in rows if k is not None]
    if not keys:
        return
    grids = {gid: (parent, level, name) for gid, parent, level, name in
             session.execute(select(Grid.id, Grid.parent_id, Grid.level, Grid.name))}

    def full_name(gid: int | None) -> str | None:
        """水果湖街道东亭社区东亭一网格 — the path without the district, as Grid.full_name."""
        parts, node = [], gid
        while node is not None and node in grids and len(parts) < 10:
            parent, level, name = grids[node]
            if level != "district" or not parts:
                parts.append((level, name))
            node = parent
        named = [name for level, name in reversed(parts) if level != "district"]
        return "".join(named) or (parts[0][1] if parts else None)

    if by == "worker":
        for wid, name, gid in session.execute(select(Worker.id, Worker.name, Worker.grid_id)
                                              .where(Worker.id.in_(keys))):
            rows[wid].name, rows[wid].belongs_to = name, full_name(gid)
        return
    for key in keys:
        parent, _level, name = grids.get(key, (None, "", str(key)))
        rows[key].name, rows[key].belongs_to = name, full_name(parent)
