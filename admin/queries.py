"""Event lists for the dispatcher: filters, search, paging, counts — always within the user's scope.

Plain values in (a `Filters` built from query parameters), SQLAlchemy results out. The scope rule is
the one `admin.auth.in_scope` applies to a single event: a scoped user sees only events whose grid
lies in the scope's subtree; events with no grid yet are visible to unscoped users only.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.lifecycle import STATUS_LABELS
from bot.domain.models import Event, Grid, User, Worker
from bot.domain.vocabulary import GRADE_CODES, WHOLE_NUMBER, local_zone
from bot.reports import rates

PAGE_SIZE = 20
DIGITS = re.compile(r"^\d{4,11}$")
LONG_DIGITS = re.compile(r"\d{5,}")


@dataclass
class Filters:
    status: str = ""
    grade: str = ""
    category: str = ""
    grid: int | None = None  # any node of the tree: the event's grid or one below it
    overdue: bool = False
    unclassified: bool = False
    urgent: bool = False
    date_from: date | None = None
    date_to: date | None = None
    # The three rates' drill-down (admin/templates/rates.html): the events behind one figure.
    month: str = ""  # YYYY-MM of the report (Asia/Shanghai)
    worker: int | None = None  # 0: not assigned to anyone
    counted: bool = False  # only events the three rates count (not cancelled, merged or rejected)
    late: str = ""  # respond | resolve: due in the round and not done within the limit
    flag: str = ""  # second_unsatisfied: 居民二次不满意
    q: str = ""
    page: int = 1
    per_page: int = PAGE_SIZE
    extra: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, params) -> Filters:
        """From query parameters (a mapping of strings); bad values are ignored, not errors."""

        def text(name: str, limit: int = 100) -> str:
            return str(params.get(name) or "").strip()[:limit]

        def number(name: str, default: int | None = None) -> int | None:
            try:
                return int(params.get(name))
            except (TypeError, ValueError):
                return default

        def day(name: str) -> date | None:
            try:
                return date.fromisoformat(text(name, 10))
            except ValueError:
                return None

        def flag(name: str) -> bool:
            return text(name).lower() in ("1", "true", "on", "yes")

        status = text("status")
        grade = text("grade").upper()
        month = text("month", 7)
        try:
            rates.month_range(month)
        except rates.RatesError:
            month = ""
        return cls(
            status=status if status in STATUS_LABELS or status == "open" else "",
            grade=grade if grade in GRADE_CODES else "",
            category=text("category", 40),
            grid=number("grid"),
            overdue=flag("overdue"),
            unclassified=flag("unclassified"),
            urgent=flag("urgent"),
            date_from=day("date_from"),
            date_to=day("date_to"),
            month=month,
            worker=number("worker"),
            counted=flag("counted"),
            late=text("late") if text("late") in ("respond", "resolve") else "",
            flag=text("flag") if text("flag") == "second_unsatisfied" else "",
            q=text("q"),
            page=max(1, number("page", 1) or 1),
            per_page=min(200, max(1, number("per_page", PAGE_SIZE) or PAGE_SIZE)),
        )

    def query_params(self, **changes) -> dict:
        """The filters as query parameters (for links: paging, export), with `changes` applied."""
        values = {k: v for k, v in asdict(self).items() if k != "extra"} | changes
        out = {}
        for key, value in values.items():
            default = {"page": 1, "per_page": PAGE_SIZE}.get(key)
            if value in (None, "", False) or value == default:
                continue
            out[key] = "1" if value is True else str(value)
        return out


def subtree_ids(session: Session, root_id: int) -> list[int]:
    """The ids of `root_id` and every grid below it (the tree has at most five levels)."""
    children: dict[int | None, list[int]] = {}
    for gid, parent in session.execute(select(Grid.id, Grid.parent_id)):
        children.setdefault(parent, []).append(gid)
    found, todo = [], [root_id]
    while todo:
        node = todo.pop()
        found.append(node)
        todo.extend(children.get(node, []))
    return found


def scope_clause(session: Session, user: User, column=Event.grid_id):
    """A WHERE clause limiting `column` (a grid id) to the user's part of the tree (None: no limit)."""
    if user.scope_grid_id is None:
        return None
    return column.in_(subtree_ids(session, user.scope_grid_id))


def scoped(session: Session, user: User, query: Select, column=Event.grid_id) -> Select:
    clause = scope_clause(session, user, column)
    return query if clause is None else query.where(clause)


def overdue_clause(now: datetime | None = None):
    """督办: flagged by the supervision sweep, or past a due time that still matters."""
    now = now or utcnow()
    return or_(
        Event.overdue.is_(True),
        and_(Event.status.in_(Event.UNACCEPTED_STATES), Event.respond_due_at.is_not(None),
             Event.respond_due_at < now),
        and_(Event.status.in_(Event.OPEN_STATES), Event.resolve_due_at.is_not(None), Event.resolve_due_at < now),
    )


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone())


def _search(q: str, can_see_phone: bool):
    q = q.strip()
    if WHOLE_NUMBER.match(q):
        return Event.number == q.upper()
    like = f"%{q.replace('%', '').replace('_', '')}%"
    if not can_see_phone and LONG_DIGITS.search(q):
        return Event.number.ilike(like)  # no searching text for phone numbers the role may not see
    terms = [Event.text.ilike(like), Event.number.ilike(like), Event.place_text.ilike(like)]
    if can_see_phone and DIGITS.match(q):
        terms.append(Event.phone.ilike(like))
    return or_(*terms)


def _filtered(session: Session, user: User, f: Filters, *, can_see_phone: bool, skip: str = "") -> Select:
    query = scoped(session, user, select(Event))
    if f.status and skip != "status":
        query = query.where(Event.status.in_(Event.OPEN_STATES) if f.status == "open" else Event.status == f.status)
    if f.grade:
        query = query.where(Event.grade == f.grade)
    if f.category:
        query = query.where(Event.category == f.category)
    if f.grid is not None:
        query = query.where(Event.grid_id.in_(subtree_ids(session, f.grid)))
    if f.overdue:
        query = query.where(overdue_clause())
    if f.unclassified:
        query = query.where(or_(Event.category == "other", Event.flagged.is_(True)))
    if f.urgent:
        query = query.where(Event.urgent.is_(True))
    if f.date_from:
        query = query.where(Event.created_at >= _local_start(f.date_from))
    if f.date_to:
        query = query.where(Event.created_at < _local_start(f.date_to + timedelta(days=1)))
    if f.month:
        start, end = rates.month_range(f.month)
        query = query.where(Event.created_at >= start, Event.created_at < end)
    if f.worker is not None:
        query = query.where(Event.worker_id.is_(None) if f.worker == 0 else Event.worker_id == f.worker)
    if f.counted:
        query = query.where(Event.status.not_in(rates.EXCLUDED_STATUSES))
    if f.late:
        query = query.where(late_clause(f.late))
    if f.flag:
        query = query.where(SECOND_UNSATISFIED)
    if f.q:
        query = query.where(_search(f.q, can_see_phone))
    return query


# 居民二次不满意: the one reopen is used and the resident is still unsatisfied — a dispatcher's case.
SECOND_UNSATISFIED = and_(Event.reopen_count > 0, Event.rating == "unsatisfied", Event.status == "rated")


def late_clause(kind: str, now: datetime | None = None):
    """The events a rate counts as due but not done in time — the complement of its numerator,
    with exactly the definitions of bot/reports/rates.py."""
    now = now or utcnow()
    if kind == "respond":
        due, done = Event.respond_due_at, Event.accepted_at
    else:
        due, done = Event.resolve_due_at, Event.completed_at
    counted = and_(due.is_not(None), or_(done.is_not(None), due <= now))
    return and_(counted, or_(done.is_(None), done > due))


@dataclass
class Page:
    events: list[Event]
    total: int
    page: int
    pages: int
    per_page: int
    counts: dict[str, int]  # per status, for the other filters (the status tabs)
    overdue: int
    unclassified: int


def list_events(session: Session, user: User, f: Filters, *, can_see_phone: bool = False) -> Page:
    query = _filtered(session, user, f, can_see_phone=can_see_phone)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // f.per_page))
    page = min(f.page, pages)
    events = list(session.scalars(
        query.order_by(case((and_(Event.urgent.is_(True), Event.status.in_(Event.OPEN_STATES)), 0), else_=1),
                       Event.created_at.desc(), Event.id.desc())
        .offset((page - 1) * f.per_page).limit(f.per_page)
    ))
    base = _filtered(session, user, f, can_see_phone=can_see_phone, skip="status").subquery()
    counts = {status: 0 for status in STATUS_LABELS}
    for status, count in session.execute(select(base.c.status, func.count()).group_by(base.c.status)):
        counts[status] = count
    return Page(events=events, total=total, page=page, pages=pages, per_page=f.per_page, counts=counts,
                overdue=count_where(session, user, overdue_clause()),
                unclassified=count_where(session, user, or_(Event.category == "other", Event.flagged.is_(True)),
                                         Event.status.in_(Event.OPEN_STATES)))


def count_where(session: Session, user: User, *clauses) -> int:
    query = scoped(session, user, select(func.count(Event.id)))
    for clause in clauses:
        query = query.where(clause)
    return session.scalar(query) or 0


def all_events(session: Session, user: User, f: Filters, *, can_see_phone: bool = False, limit: int = 50000):
    """Every matching event (for the Excel ledger), oldest first."""
    query = _filtered(session, user, f, can_see_phone=can_see_phone)
    return session.scalars(query.order_by(Event.created_at, Event.id).limit(limit))


def overdue_events(session: Session, user: User, limit: int = 50) -> list[Event]:
    query = scoped(session, user, select(Event)).where(overdue_clause(), Event.status.in_(Event.OPEN_STATES))
    return list(session.scalars(query.order_by(Event.resolve_due_at, Event.id).limit(limit)))


def category_breakdown(session: Session, user: User, since: datetime | None = None) -> list[tuple[str, int]]:
    query = scoped(session, user, select(Event.category, func.count(Event.id)))
    if since is not None:
        query = query.where(Event.created_at >= since)
    rows = session.execute(query.group_by(Event.category).order_by(func.count(Event.id).desc()))
    return [(category, count) for category, count in rows]


def grid_breakdown(session: Session, user: User, since: datetime | None = None, limit: int = 15) -> list[dict]:
    """Events per grid (this month by default): reported, still open, overdue — busiest first."""
    open_ = func.sum(case((Event.status.in_(Event.OPEN_STATES), 1), else_=0))
    late = func.sum(case((and_(overdue_clause(), Event.status.in_(Event.OPEN_STATES)), 1), else_=0))
    query = scoped(session, user, select(Event.grid_id, func.count(Event.id), open_, late)).where(
        Event.grid_id.is_not(None))
    if since is not None:
        query = query.where(Event.created_at >= since)
    rows = session.execute(query.group_by(Event.grid_id).order_by(func.count(Event.id).desc()).limit(limit)).all()
    names = {g.id: g for g in session.scalars(select(Grid).where(Grid.id.in_([r[0] for r in rows])))}
    return [{"id": gid, "name": names[gid].name, "full_name": names[gid].full_name, "reported": n,
             "open": int(o or 0), "overdue": int(late_n or 0)} for gid, n, o, late_n in rows]


def status_breakdown(session: Session, user: User) -> dict[str, int]:
    query = scoped(session, user, select(Event.status, func.count(Event.id))).group_by(Event.status)
    return dict(session.execute(query).all())


def visible_grids(session: Session, user: User) -> list[Grid]:
    """The grids the user may see, parents before children (for tree views and selects)."""
    query = select(Grid)
    clause = scope_clause(session, user, Grid.id)
    if clause is not None:
        query = query.where(clause)
    grids = list(session.scalars(query.order_by(Grid.id)))
    by_parent: dict[int | None, list[Grid]] = {}
    ids = {g.id for g in grids}
    for grid in grids:
        by_parent.setdefault(grid.parent_id if grid.parent_id in ids else None, []).append(grid)
    ordered: list[Grid] = []

    def walk(parent: int | None) -> None:
        for grid in sorted(by_parent.get(parent, []), key=lambda g: g.id):
            ordered.append(grid)
            walk(grid.id)

    walk(None)
    return ordered


def visible_workers(session: Session, user: User, role: str | None = None, *, include_inactive: bool = True):
    query = select(Worker)
    if role:
        query = query.where(Worker.role == role)
    if not include_inactive:
        query = query.where(Worker.active.is_(True))
    if user.scope_grid_id is not None:
        query = query.where(Worker.grid_id.in_(subtree_ids(session, user.scope_grid_id)))
    return list(session.scalars(query.order_by(Worker.role, Worker.grid_id, Worker.id)))

