"""Open311 GeoReport v2 under `/open311/v2/`: services from the taxonomy, requests read and created.

An adapter like the WeChat webhook: it turns HTTP into domain calls (`bot.events.intake.report`,
`bot.events.intake.set_place`) and domain objects into the spec's JSON or XML. Wired by the app factory
with `app.include_router(open311.router)`.

Decisions (GeoReport v2 leaves these to the implementer):

* **Formats** — every endpoint answers `.json` or `.xml`; any other extension is 404. Errors use
  the spec's list `[{"code": 400, "description": "…"}]` / `<errors><error>…</error></errors>`.
* **Reading is public, as in the spec** (no api_key): what is published is privacy-safe —
  phone numbers, ID-card numbers and e-mail addresses in texts are masked, the reporter is never
  shown, workers are not named (agency = the handling unit), and `media_url` is given only for
  media that an Open311 client itself submitted (residents' WeChat photos are not published).
* **Status** — `open`: 待受理, 已派单, 处置中 and 已办结 (completed but awaiting the dispatcher's
  check); `closed`: 已结案, 已评价, 不予受理, 已撤销, 已合并. `status_notes` carries the Chinese state and,
  for closed events, the closing / rejection note, or for merged ones the event it was merged into.
* **service_code on POST** — optional here (the spec makes it required): the description is
  classified by the same rules as a WeChat message; a given, known service_code overrides the
  classified category (the client chose it explicitly; grade and routing still follow the
  classification). Either service_code or description must be present.
* **Location** — `lat`+`long` route by point-in-polygon; otherwise `address_string` routes by grid
  names / aliases; `address_id` is accepted as an opaque reference (we have no address register),
  so such a request waits in the dispatcher queue unless its description names a place. Open311
  reports never fall back to a reporter's last known grid.
* **Reporter** — a pseudo resident `open311:<key id>[:<e-mail hash>]` (the key id is a hash, never
  the key); e-mail and name are kept in a timeline note for the dispatcher, the phone on the event.
* **Idempotency** — an optional `client_request_id` field (or an `Idempotency-Key` header) makes a
  repeated POST return the first request's id instead of creating a second event (per API key).
* **Dates** — requested/updated times in the service's time zone (Asia/Shanghai) with offset.
  `start_date`/`end_date` accept ISO 8601 (a time without offset is local; a date-only end_date
  includes that whole day); the window may not span more than 90 days; without dates the last
  90 days; at most 1000 requests, newest first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import nlp
from bot.core.db import session_factory, session_scope
from bot.domain.lifecycle import STATUS_LABELS, transition
from bot.domain.models import Attachment, Event
from bot.events import intake
from settings import get_settings

router = APIRouter(prefix="/open311/v2", tags=["open311"])

FORMATS = ("json", "xml")
# Open311's two groups: open until checked and closed (核查结案) or ended otherwise.
OPEN_STATES = (*Event.OPEN_STATES, "completed")
CLOSED_STATES = (*Event.CLOSED_STATES, *Event.FINAL_STATES)
STATUS_GROUPS = {"open": OPEN_STATES, "closed": CLOSED_STATES}
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
MAX_BODY = 64 * 1024
MAX_DESCRIPTION = 4000
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


# ----------------------------------------------------------------------------- privacy

_MOBILE = re.compile(r"(?<![0-9])((?:\+?86[- ]?)?1[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2})([- ]?)([2-9][0-9]{2,3})([0-9]{4})(?![0-9])")
_ID_CARD = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9A-Za-z])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_private(text: str | None) -> str:
    """Mask mobile and landline numbers, ID-card numbers and e-mail addresses (个人信息保护法)."""
    if not text:
        return ""
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}{m.group(2)}****{m.group(4)}", text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", text)


# ----------------------------------------------------------------------------- rendering

_XML_ILLEGAL = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return _XML_ILLEGAL.sub("", str(value))


def _fill(parent: ET.Element, data: dict) -> None:
    for key, value in data.items():
        child = ET.SubElement(parent, key)
        if isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                _fill(ET.SubElement(child, "attribute"), item)
        elif isinstance(value, list) and not value and key == "attributes":
            pass
        else:
            child.text = _xml_text(value)


def to_xml(root_tag: str, item_tag: str | None, items: list[dict] | dict) -> bytes:
    """`<root><item><field>…</field></item>…</root>` (or `<root><field>…</root>` for one dict),
    built with ElementTree so every text is escaped; characters XML 1.0 forbids are dropped."""
    root = ET.Element(root_tag)
    if isinstance(items, dict):
        _fill(root, items)
    else:
        for item in items:
            _fill(ET.SubElement(root, item_tag or "item"), item)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


XML_MEDIA = "text/xml; charset=utf-8"


def respond(fmt: str, root_tag: str, item_tag: str | None, payload, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root_tag, item_tag, payload), status_code=status, media_type=XML_MEDIA)
    return JSONResponse(payload, status_code=status)


def errors(fmt: str, status: int, *descriptions: str) -> Response:
    body = [{"code": status, "description": d} for d in descriptions]
    if fmt not in FORMATS:
        fmt = "json"
    return respond(fmt, "errors", "error", body, status)


class Open311Error(Exception):
    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status, self.descriptions = status, descriptions


# ----------------------------------------------------------------------------- services


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


# ----------------------------------------------------------------------------- requests out


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def local_iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(_tz()).isoformat(timespec="seconds")


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
        return mask_private(f"{text}：{note}" if note else text)[:500]
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


def request_out(session: Session, event: Event) -> dict:
    return {
        "service_request_id": event.number,
        "status": open311_status(event.status),
        "status_notes": status_notes(session, event),
        "service_name": nlp.category_label(event.category),
        "service_code": event.category,
        "description": mask_private(event.text),
        "agency_responsible": agency(event),
        "service_notice": None,
        "requested_datetime": local_iso(event.created_at),
        "updated_datetime": local_iso(event.updated_at),
        "expected_datetime": None,
        "address": mask_private(event.place_text) or None,
        "address_id": None,
        "zipcode": None,
        "lat": event.lat,
        "long": event.lng,
        "media_url": _media_url(event),
    }


# ----------------------------------------------------------------------------- query parsing


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_datetime(value: str, name: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be an ISO 8601 date/time, e.g. 2026-11-01T00:00:00+08:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_tz())
    if name == "end_date" and _DATE_ONLY.match(text):  # a whole day: end_date=2026-11-25 includes that day
        dt += timedelta(days=1) - timedelta(microseconds=1)
    return dt.astimezone(UTC)


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


# ----------------------------------------------------------------------------- requests in


@dataclass
class NewRequest:
    key_id: str
    service_code: str | None
    description: str
    lat: float | None
    lng: float | None
    address: str | None
    address_id: str | None
    email: str | None
    phone: str | None
    name: str
    device_id: str | None
    media_url: str | None
    client_request_id: str | None

    @property
    def openid(self) -> str:
        base = f"open311:{self.key_id}"
        if self.email:
            return f"{base}:{hashlib.sha256(self.email.lower().encode()).hexdigest()[:16]}"
        return base

    @property
    def source_key(self) -> str | None:
        if not self.client_request_id:
            return None
        return f"open311:{self.key_id}:{self.client_request_id}"[:160]


def key_id(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def configured_keys() -> list[str]:
    return [k.strip() for k in (get_settings().open311_keys or "").split(",") if k.strip()]


def _clean(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return _XML_ILLEGAL.sub("", str(value)).strip()[:limit]


def _coordinate(value: str, name: str, bound: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise Open311Error(400, f"{name} is out of range")
    return number


_EMAIL_OK = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_new_request(fields: dict[str, Any], idempotency_header: str | None) -> NewRequest:
    api_key = _clean(fields.get("api_key"), 200)
    keys = configured_keys()
    if not api_key or not any(hmac.compare_digest(api_key.encode(), k.encode()) for k in keys):
        raise Open311Error(403, "api_key was not provided or is invalid")
    problems: list[str] = []
    code = _clean(fields.get("service_code"), 40) or None
    if code is not None and code not in nlp.CATEGORIES:
        problems.append(f"service_code not found: {code}")
    description = _clean(fields.get("description"), MAX_DESCRIPTION)
    if not description and code is None:
        problems.append("description or service_code is required")
    lat_raw, lng_raw = _clean(fields.get("lat"), 40), _clean(fields.get("long"), 40)
    lat = lng = None
    if lat_raw or lng_raw:
        if not (lat_raw and lng_raw):
            problems.append("lat and long must be given together")
        else:
            try:
                lat = _coordinate(lat_raw, "lat", 90)
                lng = _coordinate(lng_raw, "long", 180)
            except Open311Error as e:
                problems.extend(e.descriptions)
    address = _clean(fields.get("address_string"), 200) or None
    address_id = _clean(fields.get("address_id"), 100) or None
    if lat is None and not address and not address_id and not any("lat" in p or "long" in p for p in problems):
        problems.append("a location is required: lat and long, address_string or address_id")
    email = _clean(fields.get("email"), 254) or None
    if email and not _EMAIL_OK.match(email):
        problems.append("email is not a valid address")
    phone = _clean(fields.get("phone"), 32) or None
    if phone and not re.fullmatch(r"[0-9+()\- ]{3,32}", phone):
        problems.append("phone may contain only digits, spaces and + - ( )")
    media_url = _clean(fields.get("media_url"), 1000) or None
    if media_url and not re.match(r"^https?://[^\s]+$", media_url, re.IGNORECASE):
        problems.append("media_url must be an http(s) URL")
    client_id = _clean(fields.get("client_request_id"), 100) or _clean(idempotency_header, 100) or None
    if problems:
        raise Open311Error(400, *problems)
    name = " ".join(p for p in (_clean(fields.get("last_name"), 40), _clean(fields.get("first_name"), 40)) if p)
    return NewRequest(
        key_id=key_id(api_key), service_code=code, description=description, lat=lat, lng=lng,
        address=address, address_id=address_id, email=email, phone=phone, name=name,
        device_id=_clean(fields.get("device_id"), 100) or None, media_url=media_url,
        client_request_id=client_id,
    )


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


async def _read_fields(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise Open311Error(413, f"request body larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise Open311Error(413, f"request body larger than {MAX_BODY} bytes")
    fields: dict[str, Any] = dict(request.query_params)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json" or ctype.endswith("+json"):
            data = json.loads(bytes(body) or b"{}")
            if not isinstance(data, dict):
                raise Open311Error(400, "the JSON body must be an object")
            fields.update({k: v for k, v in data.items() if isinstance(v, str | int | float)})
        elif ctype == "multipart/form-data":
            request._body = bytes(body)  # let Starlette parse the bytes already read
            form = await request.form(max_files=0, max_fields=100)
            fields.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            fields.update(dict(parse_qsl(bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=100)))
    except Open311Error:
        raise
    except (ValueError, UnicodeDecodeError, KeyError) as e:
        raise Open311Error(400, f"malformed request body: {type(e).__name__}") from None
    except Exception:  # noqa: BLE001 - Starlette's multipart errors: the client's fault, not ours
        raise Open311Error(400, "malformed request body (files are not accepted: give media_url)") from None
    return fields


# ----------------------------------------------------------------------------- documentation models


class ServiceOut(BaseModel):
    service_code: str = Field(examples=["property"])
    service_name: str = Field(examples=["物业管理"])
    description: str
    metadata: bool = False
    type: str = Field("realtime", examples=["realtime"])
    keywords: str = Field(description="comma-separated subcategories", examples=["电梯故障,楼道灯坏"])
    group: str = Field(examples=["物业服务"])


class ServiceDefinitionOut(BaseModel):
    service_code: str
    attributes: list[dict] = Field(default_factory=list, description="always empty: no service has metadata")


class RequestOut(BaseModel):
    service_request_id: str = Field(examples=["WL20261123-0042"])
    status: str = Field(examples=["open"], description="open or closed")
    status_notes: str | None = Field(None, examples=["已派单"])
    service_name: str | None = Field(None, examples=["物业管理"])
    service_code: str | None = Field(None, examples=["property"])
    description: str | None = Field(None, description="the resident's text, phone numbers masked")
    agency_responsible: str | None = Field(None, examples=["东亭社区幸福家园网格站"])
    service_notice: str | None = None
    requested_datetime: str | None = Field(None, examples=["2026-11-23T09:30:00+08:00"])
    updated_datetime: str | None = None
    expected_datetime: str | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None


class CreatedOut(BaseModel):
    service_request_id: str = Field(examples=["WL20261123-0042"])
    service_notice: str | None = None
    account_id: str | None = None


class ErrorOut(BaseModel):
    code: int = Field(examples=[400])
    description: str


FORMAT_PATH = Path(description="Response format: `json` or `xml`", examples=["json"])
ERROR_RESPONSES = {
    400: {"model": list[ErrorOut], "description": "Bad request (spec error list)"},
    404: {"model": list[ErrorOut], "description": "Not found (spec error list)"},
}
XML_CONTENT = {"text/xml": {"schema": {"type": "string"}}}
POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {
                "type": "object",
                "required": ["api_key"],
                "properties": {
                    "api_key": {"type": "string", "description": "one of WEILINLI_OPEN311_KEYS"},
                    "service_code": {"type": "string", "description": "optional; overrides the classified category"},
                    "description": {"type": "string", "description": "what is wrong (classified like a chat report)"},
                    "lat": {"type": "number"},
                    "long": {"type": "number"},
                    "address_string": {"type": "string"},
                    "address_id": {"type": "string"},
                    "email": {"type": "string"},
                    "phone": {"type": "string"},
                    "first_name": {"type": "string"},
                    "last_name": {"type": "string"},
                    "device_id": {"type": "string"},
                    "media_url": {"type": "string"},
                    "client_request_id": {"type": "string",
                                          "description": "extension: a repeated id returns the first request"},
                },
            }}
            for media in ("application/x-www-form-urlencoded", "application/json")
        },
    }
}


# ----------------------------------------------------------------------------- endpoints


@router.get(
    "/services.{fmt}",
    summary="GET Service List",
    response_model=list[ServiceOut],
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_services(fmt: str = FORMAT_PATH, jurisdiction_id: str | None = Query(None)) -> Response:
    """The service types: one per category of the taxonomy (codes fixed, Chinese names)."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    return respond(fmt, "services", "service", service_list())


@router.get(
    "/services/{service_code}.{fmt}",
    summary="GET Service Definition",
    response_model=ServiceDefinitionOut,
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_service_definition(
    service_code: str, fmt: str = FORMAT_PATH, jurisdiction_id: str | None = Query(None)
) -> Response:
    """No service has extra attributes (metadata false): a known code has an empty attribute list."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    if service_code not in nlp.CATEGORIES:
        return errors(fmt, 404, f"service_code not found: {service_code}")
    return respond(fmt, "service_definition", None, {"service_code": service_code, "attributes": []})


@router.get(
    "/requests.{fmt}",
    summary="GET Service Requests",
    response_model=list[RequestOut],
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_requests(
    fmt: str = FORMAT_PATH,
    service_request_id: str | None = Query(None, description="comma-separated ids; overrides all other filters"),
    service_code: str | None = Query(None, description="comma-separated service codes"),
    start_date: str | None = Query(None, description="ISO 8601, earliest requested_datetime"),
    end_date: str | None = Query(None, description="ISO 8601, latest requested_datetime"),
    status: str | None = Query(None, description="open, closed or open,closed"),
    jurisdiction_id: str | None = Query(None),
) -> Response:
    """Requests newest first: by default the last 90 days, at most 1000."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    try:
        with session_factory()() as session:
            found = find_requests(session, service_request_id=service_request_id, service_code=service_code,
                                  start_date=start_date, end_date=end_date, status=status)
            payload = [request_out(session, e) for e in found]
    except Open311Error as e:
        return errors(fmt, e.status, *e.descriptions)
    return respond(fmt, "service_requests", "request", payload)


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="GET Service Request",
    response_model=list[RequestOut],
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_request(service_request_id: str, fmt: str = FORMAT_PATH, jurisdiction_id: str | None = Query(None)) -> Response:
    """One request (as a one-element list, as the spec shows)."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    with session_factory()() as session:
        event = session.scalar(select(Event).where(Event.number == service_request_id.strip().upper()))
        if event is None:
            return errors(fmt, 404, f"service_request_id not found: {service_request_id}")
        payload = [request_out(session, event)]
    return respond(fmt, "service_requests", "request", payload)


@router.post(
    "/requests.{fmt}",
    summary="POST Service Request",
    response_model=list[CreatedOut],
    responses={
        200: {"content": XML_CONTENT},
        403: {"model": list[ErrorOut], "description": "api_key missing or invalid"},
        413: {"model": list[ErrorOut], "description": "body too large"},
        **ERROR_RESPONSES,
    },
    openapi_extra=POST_BODY,
)
async def post_request(request: Request, fmt: str = FORMAT_PATH) -> Response:
    """Create an event (form-encoded as the spec says, or JSON) through classification and routing.

    Needs an `api_key` from `WEILINLI_OPEN311_KEYS`; answers `[{service_request_id, service_notice,
    account_id}]`. A repeated `client_request_id` (or `Idempotency-Key` header) returns the same id.
    """
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    try:
        new = parse_new_request(await _read_fields(request), request.headers.get("idempotency-key"))
    except Open311Error as e:
        return errors(fmt, e.status, *e.descriptions)
    event_number, notice = await run_in_threadpool(_create, new)
    return respond(fmt, "service_requests", "request",
                   [{"service_request_id": event_number, "service_notice": notice, "account_id": None}])


def _create(new: NewRequest) -> tuple[str, str]:
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


__all__ = ["router", "mask_private", "to_xml", "open311_status"]
