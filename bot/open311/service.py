"""Open311 requests as domain calls: the service list from the taxonomy, events found and shown the
way the public may see them, and a POST turned into a report through `bot.events.intake`.

Plain values in and out (dicts ready for the codec, numbers and notices); no HTTP here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import nlp
from bot.core.db import session_factory, session_scope
from bot.domain.lifecycle import STATUS_LABELS, transition
from bot.domain.models import Attachment, Event
from bot.domain.privacy import mask_text
from bot.domain.vocabulary import local_iso
from bot.events import intake
from bot.open311.codec import Open311Error, parse_datetime
from bot.open311.schemas import NewRequest

# Open311's two groups: open until checked and closed (核查结案) or ended otherwise.
OPEN_STATES = (*Event.OPEN_STATES, "completed")
CLOSED_STATES = (*Event.CLOSED_STATES, *Event.FINAL_STATES)
STATUS_GROUPS = {"open": OPEN_STATES, "closed": CLOSED_STATES}
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
GROUPS = {
    "environment": "城市管理",
    "facility": "城市管理",
    "traffic": "城市管理",
    "greening": "城市管理",
    "property": "物业服务",
    "safety": "平安建设",
    "security": "平安建设",
    "dispute": "矛盾调解",
    "welfare": "民生服务",
    "other": "其他",
}
URGENT_NOTICE = "如有险情，请立即拨打 119（火警）/ 120（急救）/ 110（报警）。"


def _subcategories() -> dict[str, list[str]]:
    """Subcategory labels per category code, from the active rules (empty if unavailable)."""
    found: dict[str, list[str]] = {}
    try:
        from nlp.classifier import get_rules

        rules = get_rules()
        codes = rules.codes
        entries = [entry for group in rules.subs.values() for entry in group] + list(rules.sub_chars)
        for _parts, sub, _text in entries:
            labels = found.setdefault(codes[sub.category], [])
            if sub.label not in labels:
                labels.append(sub.label)
    except Exception:  # noqa: BLE001 - keywords are optional decoration; never fail the list
        return {}
    return found


def service_list() -> list[dict]:
    subs = _subcategories()
    out = []
    for code, label in nlp.CATEGORIES.items():
        keywords = subs.get(code, [])
        description = f"{label}类问题" + (f"，如：{'、'.join(keywords[:8])}" if keywords else "")
        out.append({
            "service_code": code,
            "service_name": label,
            "description": description,
            "metadata": False,
            "type": "realtime",
            "keywords": ",".join(keywords),
            "group": GROUPS.get(code, "其他"),
        })
    return out


def open311_status(status: str) -> str:
    return "closed" if status in CLOSED_STATES else "open"


def _last_note(event: Event, *actions: str) -> str:
    for entry in reversed(event.timeline):
        if entry.action in actions:
            return (entry.note or "").strip()
    return ""


def status_notes(session: Session, event: Event) -> str:
    label = STATUS_LABELS.get(event.status, event.status)
    if event.status == "reported":
        return f"{label}：等待指挥中心调度" if event.unit == "dispatch" else label
    if event.status == "completed":
        return f"{label}，待核查结案"
    if event.status in (*Event.CLOSED_STATES, "rejected"):
        note = _last_note(event, "close" if event.status != "rejected" else "reject")
        text = f"{STATUS_LABELS['closed']}，居民已评价" if event.status == "rated" else label
        return mask_text(f"{text}：{note}" if note else text)[:500]
    if event.status == "cancelled":
        return f"{label}：报事人已撤回"
    if event.status == "merged":
        target = session.get(Event, event.merged_into_id) if event.merged_into_id else None
        return f"{label}：与 {target.number} 重复，已并入该事件办理" if target is not None else label
    return label


def _unit_name(name: str, suffix: str) -> str:
    """"水果湖街道" + "街道职能部门" → "水果湖街道职能部门" (no doubled level word)."""
    for word in ("网格", "街道", "区"):
        if suffix.startswith(word) and name.endswith(word):
            return name + suffix[len(word):]
    return name + suffix


def agency(event: Event) -> str:
    """The handling unit, never a person: 东亭社区幸福家园网格站, 水果湖街道职能部门, 武昌区网格化指挥中心…"""
    kind = (event.unit or "dispatch").partition(":")[0]
    grid = event.grid
    if grid is None or kind in ("dispatch", ""):
        return "指挥中心"
    if kind == "grid":
        community = grid.ancestor("community")
        prefix = community.name if community is not None and community is not grid else ""
        return prefix + _unit_name(grid.name, "网格站")
    if kind == "street":
        street = grid.ancestor("street")
        return _unit_name(street.name, "街道职能部门") if street is not None else "街道职能部门"
    if kind == "district":
        district = grid.ancestor("district")
        return _unit_name(district.name, "区网格化指挥中心") if district is not None else "区网格化指挥中心"
    return "市指挥中心"


def _media_url(event: Event) -> str | None:
    if event.source != "open311":
        return None
    for item in event.attachments:
        if item.kind == "image" and item.url:
            return item.url
    return None


KEYLESS_RESULTS = 100  # a list read without an API key shows at most this many, newest first
COARSE_DIGITS = 3  # keyless coordinates rounded to 0.001° (~110 m north-south): a block, not a door


def _coordinate(value: float | None, digits: int | None) -> float | None:
    """A stored coordinate as published: None when it is not a finite number (old rows may hold NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits) if digits is not None else value


def _coarse_place(event: Event) -> str | None:
    grid = event.grid
    return (grid.full_name or grid.name) if grid is not None else None


def request_out(session: Session, event: Event, full: bool = False) -> dict:
    """One request as published. Without an API key (`full` False) the location is coarse (the grid,
    coordinates to ~100 m) and no resident's free text is shown: the description is the category
    (and subcategory), no address typed by the resident, no media."""
    if not full:
        label = nlp.category_label(event.category)
        return {**_request_fields(session, event),
                "description": f"{label}：{event.subcategory}" if event.subcategory else label,
                "address": _coarse_place(event), "lat": _coordinate(event.lat, COARSE_DIGITS),
                "long": _coordinate(event.lng, COARSE_DIGITS), "media_url": None}
    return {**_request_fields(session, event), "description": mask_text(event.text),
            "address": mask_text(event.place_text) or None, "lat": _coordinate(event.lat, None),
            "long": _coordinate(event.lng, None), "media_url": _media_url(event)}


def _request_fields(session: Session, event: Event) -> dict:
    return {
        "service_request_id": event.number,
        "status": open311_status(event.status),
        "status_notes": status_notes(session, event),
        "service_name": nlp.category_label(event.category),
        "service_code": event.category,
        "agency_responsible": agency(event),
        "service_notice": None,
        "requested_datetime": local_iso(event.created_at),
        "updated_datetime": local_iso(event.updated_at),
        "expected_datetime": None,
        "address_id": None,
        "zipcode": None,
    }


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def date_window(start_date: str | None, end_date: str | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    start = parse_datetime(start_date, "start_date") if start_date else None
    end = parse_datetime(end_date, "end_date") if end_date else None
    if start is None and end is None:
        end = now or datetime.now(UTC)
        start = end - DEFAULT_WINDOW
    elif start is None:
        start = end - DEFAULT_WINDOW
    elif end is None:
        end = start + DEFAULT_WINDOW
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > DEFAULT_WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end


def _check_codes(codes: list[str]) -> None:
    unknown = [c for c in codes if c not in nlp.CATEGORIES]
    if unknown:
        raise Open311Error(400, f"service_code not found: {', '.join(unknown)}")


def find_requests(
    session: Session,
    *,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> list[Event]:
    ids = _split(service_request_id)
    if ids:  # the spec: service_request_id overrides all other arguments
        wanted = [i.upper() for i in ids[:MAX_RESULTS]]
        found = {e.number: e for e in session.scalars(select(Event).where(Event.number.in_(wanted)))}
        return [found[n] for n in dict.fromkeys(wanted) if n in found]
    query = select(Event)
    codes = _split(service_code)
    if codes:
        _check_codes(codes)
        query = query.where(Event.category.in_(codes))
    statuses = [s.lower() for s in _split(status)]
    if statuses:
        bad = [s for s in statuses if s not in STATUS_GROUPS]
        if bad:
            raise Open311Error(400, f"status must be open or closed, not {', '.join(bad)}")
        query = query.where(Event.status.in_([st for s in statuses for st in STATUS_GROUPS[s]]))
    start, end = date_window(start_date, end_date)
    query = query.where(Event.created_at >= start, Event.created_at <= end)
    return list(session.scalars(query.order_by(Event.created_at.desc(), Event.id.desc()).limit(MAX_RESULTS)))


def create_request(session: Session, new: NewRequest) -> tuple[Event, bool]:
    """Create the event through the same classification and routing as a WeChat report."""
    if new.source_key:
        existing = session.scalar(select(Event).where(Event.source_key == new.source_key))
        if existing is not None:
            return existing, False
    person = intake.resident(session, new.openid)
    person.grid = None  # Open311 reports never fall back to a reporter's last known grid
    label = new.address or (f"地址编号 {new.address_id}" if new.address_id and new.lat is None else None)
    reported = intake.report(session, intake.Report(
        openid=new.openid,
        text=new.description,
        source="open311",
        source_key=new.source_key,
        kind="location" if new.lat is not None else "text",
        lat=new.lat,
        lng=new.lng,
        label=label,
        phone=new.phone,
    ))
    event = reported.event
    if not reported.created:
        return event, False
    if new.lat is None and new.address and event.place_text != new.address:
        intake.set_place(session, event, text=new.address)
    elif new.lat is None and label and not event.place_text:
        event.place_text = label
    if new.service_code and new.service_code != event.category:
        classified = event.category
        event.category = new.service_code
        event.subcategory = ""
        transition(session, event, "note", actor="system", actor_name="Open311",
                   note=f"接口指定分类：{nlp.category_label(new.service_code)}"
                        f"（自动分类：{nlp.category_label(classified)}）")
    if new.media_url:
        session.add(Attachment(event=event, kind="image", url=new.media_url, label="Open311 media_url"))
    contact = [f"接口 {new.key_id}"]
    if new.name:
        contact.append(f"联系人：{new.name}")
    if new.email:
        contact.append(f"邮箱：{new.email}")
    if new.device_id:
        contact.append(f"设备：{new.device_id}")
    if new.address_id:
        contact.append(f"地址编号：{new.address_id}")
    transition(session, event, "note", actor="system", actor_name="Open311", note="Open311 来源：" + "；".join(contact))
    session.flush()
    return event, True


def service_notice(event: Event) -> str:
    parts = [f"已受理，事件编号 {event.number}，分类：{nlp.category_label(event.category)}。"]
    if event.unit == "dispatch" or event.grid is None:
        parts.append("地点待确认，由指挥中心调度派单。")
    else:
        parts.append(f"承办：{agency(event)}。")
    if event.urgent:
        parts.append("已按紧急事件推送网格员和社区值班人员。" + URGENT_NOTICE)
    return "".join(parts)


def create(new: NewRequest) -> tuple[str, str]:
    """One transaction; a concurrent duplicate of the same client_request_id finds the winner's event."""
    try:
        with session_scope() as session:
            event, _created = create_request(session, new)
            return event.number, service_notice(event)
    except IntegrityError:
        if not new.source_key:
            raise
        with session_factory()() as session:
            event = session.scalar(select(Event).where(Event.source_key == new.source_key))
            if event is None:
                raise
            return event.number, service_notice(event)


def requests_out(full: bool = False, **filters: str | None) -> list[dict]:
    """GET requests: the matching events as the public sees them (see `find_requests`); keyless
    readers get at most KEYLESS_RESULTS, coarse."""
    with session_factory()() as session:
        found = find_requests(session, **filters)
        return [request_out(session, e, full) for e in (found if full else found[:KEYLESS_RESULTS])]


def one_request_out(service_request_id: str, full: bool = False) -> dict | None:
    """GET one request by its event number; None when there is no such event."""
    with session_factory()() as session:
        event = session.scalar(select(Event).where(Event.number == service_request_id.strip().upper()[:40]))
        return request_out(session, event, full) if event is not None else None
