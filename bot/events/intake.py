"""Event use cases for residents: report, enrich (place, photo, description), query, supplement, cancel.

Plain values in, plain results out: no HTTP request or WeChat message objects here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import String, bindparam, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import nlp
from bot.core.db import UTCDateTime, as_loaded, upsert_for_dialect, utcnow
from bot.domain import numbering
from bot.domain.lifecycle import record_creation, transition, write_new
from bot.domain.models import Attachment, Event, Follower, Grid, InboxMessage, Resident
from bot.domain.numbering import next_number
from bot.events import urgent
from bot.notify import notices
from bot.places import gridindex
from bot.places.routing import Route, grid_by_location, grid_by_text, grid_worker, metres, route
from bot.timelimits import rounds
from settings import get_settings

DUPLICATE_METRES = 50


class NotFound(LookupError):
    """No such event for this resident (the same answer whether it exists for someone else or not)."""


@dataclass
class Report:
    openid: str
    text: str = ""
    source_key: str | None = None
    kind: str = "text"  # text | voice | image | location | link
    media_id: str | None = None
    pic_url: str | None = None
    lat: float | None = None
    lng: float | None = None
    label: str | None = None
    source: str = "wechat"  # wechat | open311 | patrol
    phone: str | None = None
    number: str | None = None  # already reserved: promised in a store-first answer (bot.wechat.inbox)
    first_delivery: bool = False  # the caller knows no earlier delivery of source_key got this far


@dataclass
class Duplicate:
    """An open event that looks like the same problem: all a resident is told about it."""

    number: str
    status: str


@dataclass
class Reported:
    event: Event
    route: Route
    created: bool  # False when a retry found the event its first delivery created
    duplicate: Duplicate | None = None


def resident(session: Session, openid: str, *, at: Grid | None = None) -> Resident:
    """The resident, created if new; `at`: the grid they report from, written by their touch when
    it is still due (`touch_later`), else by the caller."""
    if _touch_due(session, openid):
        return touch_resident(session, openid, at)
    found = session.info.get(("resident", openid))  # touch_resident already upserted it in this unit of work
    if found is not None:
        return found
    found = session.scalar(select(Resident).where(Resident.openid == openid))
    if found is None:
        try:
            with session.begin_nested():
                found = Resident(openid=openid)
                session.add(found)
        except IntegrityError:  # created concurrently by another request
            found = session.scalar(select(Resident).where(Resident.openid == openid))
    return found


def touch_resident(session: Session, openid: str, grid: Grid | None = None) -> Resident:
    """Remember when the resident last wrote: it opens WeChat's 48-hour customer-service window.
    One upsert statement, which also loads the resident: this runs for every incoming message.
    `grid`: where they report from now, set by the same statement (None keeps the last one)."""
    return _touched(session, openid, grid, _touch(session, openid, grid))


def reporter(session: Session, openid: str, grid: Grid | None, *, numbered: bool) -> tuple[Resident, str | None]:
    """The reporting resident; and, when `numbered` and their touch is still due on a database
    whose numbers come from a SEQUENCE, the new event's number, taken by that same statement."""
    if not (numbered and _touch_due(session, openid) and numbering.in_sequence(session)):
        return resident(session, openid, at=grid), None
    key = numbering.today_key()
    row = _touch(session, openid, grid, number_key=key)
    return _touched(session, openid, grid, row), numbering.taken_from(session, key, row)


def _touch(session: Session, openid: str, grid: Grid | None, number_key: str | None = None):
    statement = _touch_statement(session.get_bind().dialect.name, numbered=number_key is not None)
    values = {"openid": openid, "now": utcnow(), "grid_id": grid.id if grid is not None else None}
    if number_key is not None:
        values["number_key"] = number_key
    return session.connection().execute(statement, values).one()


def _touched(session: Session, openid: str, grid: Grid | None, row) -> Resident:
    session.info.pop(_touch_key(openid), None)
    person = as_loaded(session, Resident, row)
    if grid is not None:  # the object says where, as a loaded relationship: no query to find it
        set_committed_value(person, "grid", grid)
    session.info[("resident", openid)] = person
    return person


def touch_later(session: Session, openid: str) -> None:
    """The touch is due in this unit of work, written by the first `resident()` call (a report's,
    with its grid in the same statement) or by `touch_if_due` at the end."""
    session.info[_touch_key(openid)] = True


def touch_if_due(session: Session, openid: str) -> None:
    if _touch_due(session, openid):
        touch_resident(session, openid)


def _touch_key(openid: str) -> tuple[str, str]:
    return ("touch", openid)


def _touch_due(session: Session, openid: str) -> bool:
    return session.info.get(_touch_key(openid), False)


@cache
def _touch_statement(dialect: str, numbered: bool = False):
    """Built once per dialect, as _SAME_PROBLEM below; `numbered` also takes an event number."""
    now, table = bindparam("now", type_=UTCDateTime()), Resident.__table__
    insert = upsert_for_dialect(dialect)(table)
    grid_id = bindparam("grid_id", type_=table.c.grid_id.type)
    return (insert.values(openid=bindparam("openid", type_=String()), subscribed=True, last_message_at=now,
                          created_at=now, grid_id=grid_id)
            .on_conflict_do_update(index_elements=[table.c.openid],
                                   set_={"last_message_at": now, "subscribed": True,
                                         "grid_id": func.coalesce(insert.excluded.grid_id, table.c.grid_id)})
            .returning(*table.c, *(numbering.taken_alongside() if numbered else ())))


def report(session: Session, data: Report, grid_hint: Grid | None = None,
           classification: nlp.Classification | None = None) -> Reported:
    """Create the event, classify, route and assign it — idempotent on `source_key`.

    Everything is decided before the event is written, on an object outside the session, so it is
    written by two INSERTs (the event, its timeline rows) and no flush or UPDATE after (this runs
    for every report). A `first_delivery` skips the source_key lookup; the unique key still
    refuses a second event."""
    if data.source_key and not data.first_delivery:
        existing = session.scalar(select(Event).where(Event.source_key == data.source_key))
        if existing is not None:
            return Reported(existing, _current_route(existing), created=False)
    result = (classification or nlp.classify(data.text)) if data.text else None  # the handler's, if it had one
    with session.no_autoflush:
        grid, place_text = _locate(session, data, result)
    person, number = reporter(session, data.openid, grid, numbered=data.number is None)
    now = utcnow()
    event = Event(
        reporter=person, source=data.source, source_key=data.source_key, text=data.text, created_at=now,
        updated_at=now, status="reported", urgent=False, flagged=False, deadline_round=0, reopen_count=0,
        overdue=False, overdue_count=0, lat=data.lat, lng=data.lng,
        attachments=[], timeline=[],  # known empty: no lazy load when they are read later
    )
    _apply_classification(event, result)
    event.phone = event.phone or data.phone
    event.place_text = place_text
    with session.no_autoflush:
        if grid is not None and person.grid_id != grid.id:
            _move(session, person, grid)
        near = grid or grid_hint or _last_grid(session, person)
        routed = _urgent_route(session, route(session, near, event.grade), event)
    event.number = data.number or number or next_number(session)
    rounds.start_round(event, now, new_round=False)
    record_creation(session, event, actor="resident", note=data.text[:500])
    _assign(session, event, routed)
    attaching = data.kind in ("image", "location", "link", "voice") and (data.media_id or data.pic_url or data.lat)
    # A routine task's push is queued before the event is written, and rides in its INSERT; an
    # urgent alert (who is on duty, their alert rows) and a task naming its photo come after it.
    early = not event.urgent and not attaching
    if early:
        _announce(session, event, routed, near)
    # the open events about the same problem, read by the event's own INSERT where it can
    beside = (_SAME_PROBLEM_BESIDE, _duplicate_values(event, "dup_")) if _may_duplicate(event) else ()
    candidates = write_new(session, event, *beside)
    if attaching:
        _attach(session, event, data, flush=False)
    if not early:
        _announce(session, event, routed, near)
    session.flush()
    return Reported(event, routed, created=True, duplicate=find_duplicate(session, event, candidates))


_MOVE = Resident.__table__.update().where(Resident.__table__.c.id == bindparam("resident_id"))


def _move(session: Session, person: Resident, grid: Grid) -> None:
    """Where the resident reported now: one UPDATE, and the object says so (no flush to find it)."""
    session.connection().execute(_MOVE, {"resident_id": person.id, "grid_id": grid.id})
    set_committed_value(person, "grid_id", grid.id)
    set_committed_value(person, "grid", grid)


def still_stored(session: Session, openid: str, number: str) -> bool:
    """`number` was promised to this resident in a store-first answer (bot.wechat.inbox) and their
    message is still waiting to be handled: the event does not exist yet, but it will."""
    return session.scalar(select(InboxMessage.id).where(
        InboxMessage.number == number.upper(), InboxMessage.openid == openid,
        InboxMessage.status.in_(InboxMessage.OPEN_STATES))) is not None


def _urgent_route(session: Session, routed: Route, event: Event) -> Route:
    """An urgent event goes to a person, whatever its grade: the grid's worker when the grid is
    known (a B-grade gas leak must not sit in a department queue that nobody answers at night)."""
    if not event.urgent or routed.grid is None or routed.worker is not None:
        return routed
    worker = grid_worker(session, routed.grid)
    return Route(routed.grid, worker, f"grid:{worker.grid_id}") if worker is not None else routed


def _same_problem(prefix: str = ""):
    """Open events about the same problem, newest first; parameters <prefix>grid_id, … ."""
    def given(name: str):
        return bindparam(prefix + name)

    return (select(Event.number, Event.status, Event.lat, Event.lng)
            .where(Event.grid_id == given("grid_id"), Event.category == given("category"),
                   Event.subcategory == given("subcategory"), Event.id != given("id"),
                   # the states as literals: an IN of one list parameter is expanded into the SQL
                   # text again on every call
                   Event.status.in_([literal(state, String()) for state in Event.OPEN_STATES]),
                   Event.created_at >= given("since"))
            .order_by(Event.id.desc()).limit(10))


# Built once: a statement built per call costs more CPU than its round trip (this runs per report).
_SAME_PROBLEM = _same_problem()
_SAME_PROBLEM_BESIDE = _same_problem("dup_")  # in the new event's own INSERT (PostgreSQL): it sees the others


def find_duplicate(session: Session, event: Event, candidates: list[tuple] | None = None) -> Duplicate | None:
    """An open event about the same problem: same grid, category and subcategory (a category alone
    puts a gas smell and a neighbour who no longer answers together), recent, and within 50 m when
    both have locations. `candidates`: the rows of that query, already read with the event's INSERT."""
    if not _may_duplicate(event):
        return None
    if candidates is None:
        candidates = session.execute(_SAME_PROBLEM, _duplicate_values(event))
    for number, status, lat, lng in candidates:
        both_located = None not in (event.lat, event.lng, lat, lng)
        if both_located and metres(event.lat, event.lng, lat, lng) > DUPLICATE_METRES:
            continue
        return Duplicate(number, status)
    return None


def _may_duplicate(event: Event) -> bool:
    return _grid_id(event) is not None and event.category != "other" and bool(event.subcategory)


def _grid_id(event: Event) -> int | None:
    """The event's grid, also before it is written (a new event has its grid, not yet its grid_id)."""
    if event.grid_id is not None:
        return event.grid_id
    return event.grid.id if event.grid is not None else None


def _duplicate_values(event: Event, prefix: str = "") -> dict:
    since = event.created_at - timedelta(hours=get_settings().duplicate_window_hours)
    return {f"{prefix}grid_id": _grid_id(event), f"{prefix}category": event.category,
            f"{prefix}subcategory": event.subcategory, f"{prefix}id": event.id or 0, f"{prefix}since": since}


def _last_grid(session: Session, person: Resident) -> Grid | None:
    """Where the resident reported last time (cached grid tree: no query)."""
    return gridindex.current(session).orm(session, person.grid_id)


def follow(session: Session, openid: str, event: Event, target: Event) -> Event:
    """The resident chose to follow `target` instead: their new event is merged into it."""
    transition(session, event, "merge", actor="resident", note=f"合并至 {target.number}")
    event.merged_into_id = target.id
    person = resident(session, openid)
    if target.reporter_id != person.id:
        try:
            with session.begin_nested():
                session.add(Follower(event_id=target.id, resident_id=person.id))
        except IntegrityError:
            pass  # already following
    transition(session, target, "note", actor="resident", note=f"居民重复反映（{event.number}），已合并跟进")
    notices.merged(session, event, target)
    return target


def _apply_classification(event: Event, result) -> None:
    if result is None:
        event.category, event.grade, event.flagged, event.rule = "other", event.grade or "A", True, ""
        return
    event.intent = result.intent
    event.category = result.category
    event.subcategory = result.subcategory
    event.grade = result.grade or "A"
    event.urgent = bool(result.urgent) or event.urgent
    event.flagged = bool(result.flagged) or result.category == "other"
    event.confidence = result.confidence
    event.rule = result.rule
    event.phone = result.phone


def _locate(session: Session, data: Report, result) -> tuple[Grid | None, str | None]:
    if data.lat is not None and data.lng is not None:
        return grid_by_location(session, data.lat, data.lng), data.label or f"{data.lat:.5f},{data.lng:.5f}"
    if data.label:  # an explicit address (Open311 address_string) beats a place named in the text
        grid, _ = grid_by_text(session, data.label)
        if grid is not None:
            return grid, data.label
    grid, matched = grid_by_text(session, data.text) if data.text else (None, None)
    place = (result.place if result is not None else None) or matched
    return grid, place


def _attach(session: Session, event: Event, data: Report, timeline_id: int | None = None, *,
            flush: bool = True) -> Attachment:
    item = Attachment(
        event=event, timeline_id=timeline_id, kind=data.kind, media_id=data.media_id,
        url=data.pic_url, label=data.label, created_at=utcnow(),
    )
    session.add(item)
    if flush:
        session.flush()
    return item


def _current_route(event: Event) -> Route:
    return Route(event.grid, event.worker, event.unit)


def _route_event(session: Session, event: Event, grid: Grid | None = None) -> Route:
    routed = _urgent_route(session, route(session, grid, event.grade), event)
    _assign(session, event, routed)
    _announce(session, event, routed)
    return routed


def _assign(session: Session, event: Event, routed: Route) -> None:
    event.grid = routed.grid
    event.unit = routed.unit
    event.worker = routed.worker
    if routed.unit != "dispatch":
        transition(session, event, "assign", actor="system", actor_name="系统", note=f"派至{routed.label}")


def _announce(session: Session, event: Event, routed: Route, near: Grid | None = None) -> None:
    """The pushes of a routing: the task to the worker, or for an urgent event the alert."""
    if event.urgent:
        urgent.alert(session, event, near or routed.grid)
    elif routed.unit != "dispatch":
        notices.task_assigned(session, event)


def describe(session: Session, event: Event, text: str) -> Event:
    """A description for an event born from a photo or location: classify it now."""
    event.text = (event.text + "\n" + text).strip() if event.text else text
    was_urgent = event.urgent
    _apply_classification(event, nlp.classify(event.text))
    if event.accepted_at is None:  # the grade may have changed: the round's limits follow it
        rounds.start_round(event, event.created_at, new_round=False)
    transition(session, event, "supplement", actor="resident", note=text[:500])
    if event.unit == "dispatch" and event.status == "reported":
        grid, place = grid_by_text(session, text)
        if place:
            event.place_text = place
        _route_event(session, event, grid or (event.reporter.grid if event.reporter else None))
    elif event.urgent and not was_urgent:  # a photo first, then "着火了": alert now
        urgent.alert(session, event, event.grid or (event.reporter.grid if event.reporter else None))
    return event


def set_place(session: Session, event: Event, *, text: str = "", lat=None, lng=None, label=None) -> Route:
    """The resident answered "where?": remember the place and route the event if it was waiting."""
    if lat is not None and lng is not None:
        grid = grid_by_location(session, lat, lng)
        event.lat, event.lng = lat, lng
        event.place_text = label or f"{lat:.5f},{lng:.5f}"
        _attach(session, event, Report(openid="", kind="location", lat=lat, lng=lng, label=label))
    else:
        grid, _ = grid_by_text(session, text)
        event.place_text = text[:200]
    transition(session, event, "supplement", actor="resident", note=f"地点：{event.place_text}")
    if grid is not None and event.reporter is not None:
        event.reporter.grid = grid
    if event.status == "reported" and event.unit == "dispatch" and grid is not None:
        return _route_event(session, event, grid)
    return _current_route(event)


def add_photo(session: Session, event: Event, *, media_id: str | None, pic_url: str | None, actor: str) -> None:
    entry = transition(session, event, "supplement", actor=actor, note="补充照片")
    _attach(session, event, Report(openid="", kind="image", media_id=media_id, pic_url=pic_url), entry.id)


def own_events(session: Session, openid: str, limit: int = 5) -> list[Event]:
    return list(session.scalars(
        select(Event).join(Resident, Event.reporter_id == Resident.id)
        .where(Resident.openid == openid)
        .order_by(Event.id.desc()).limit(limit)
    ))


def own_event(session: Session, openid: str, number: str) -> Event:
    event = session.scalar(
        select(Event).join(Resident, Event.reporter_id == Resident.id)
        .where(Resident.openid == openid, Event.number == number.upper())
    )
    if event is None:
        raise NotFound(number)
    return event


def open_event(session: Session, number: str) -> Event | None:
    """Any resident's still-open event, by number (only for following a duplicate: shows no details)."""
    return session.scalar(select(Event).where(Event.number == number, Event.status.in_(Event.OPEN_STATES)))


def latest_open_event(session: Session, openid: str) -> Event | None:
    return session.scalar(
        select(Event).join(Resident, Event.reporter_id == Resident.id)
        .where(Resident.openid == openid, Event.status.in_(Event.OPEN_STATES))
        .order_by(Event.id.desc()).limit(1)
    )


def supplement(session: Session, openid: str, number: str, text: str) -> Event:
    event = own_event(session, openid, number)
    transition(session, event, "supplement", actor="resident", note=text[:1000])
    notices.resident_supplemented(session, event, text)
    return event


def cancel(session: Session, openid: str, number: str, reason: str = "") -> Event:
    event = own_event(session, openid, number)
    transition(session, event, "cancel", actor="resident", note=reason or "居民撤销")
    notices.cancelled(session, event)
    return event
