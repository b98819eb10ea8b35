"""The shapes Open311 requests and answers take: the documented response models (OpenAPI at /docs)
and a POST's fields checked into a `NewRequest`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Path
from pydantic import BaseModel, Field

import nlp
from bot.open311.codec import Open311Error, clean
from settings import get_settings

MAX_DESCRIPTION = 4000

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
    description: str | None = Field(None, description="the resident's text, personal data masked")
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
    api_key = clean(fields.get("api_key"), 200)
    keys = configured_keys()
    if not api_key or not any(hmac.compare_digest(api_key.encode(), k.encode()) for k in keys):
        raise Open311Error(403, "api_key was not provided or is invalid")
    problems: list[str] = []
    code = clean(fields.get("service_code"), 40) or None
    if code is not None and code not in nlp.CATEGORIES:
        problems.append(f"service_code not found: {code}")
    description = clean(fields.get("description"), MAX_DESCRIPTION)
    if not description and code is None:
        problems.append("description or service_code is required")
    lat_raw, lng_raw = clean(fields.get("lat"), 40), clean(fields.get("long"), 40)
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
    address = clean(fields.get("address_string"), 200) or None
    address_id = clean(fields.get("address_id"), 100) or None
    if lat is None and not address and not address_id and not any("lat" in p or "long" in p for p in problems):
        problems.append("a location is required: lat and long, address_string or address_id")
    email = clean(fields.get("email"), 254) or None
    if email and not _EMAIL_OK.match(email):
        problems.append("email is not a valid address")
    phone = clean(fields.get("phone"), 32) or None
    if phone and not re.fullmatch(r"[0-9+()\- ]{3,32}", phone):
        problems.append("phone may contain only digits, spaces and + - ( )")
    media_url = clean(fields.get("media_url"), 1000) or None
    if media_url and not re.match(r"^https?://[^\s]+$", media_url, re.IGNORECASE):
        problems.append("media_url must be an http(s) URL")
    client_id = clean(fields.get("client_request_id"), 100) or clean(idempotency_header, 100) or None
    if problems:
        raise Open311Error(400, *problems)
    name = " ".join(p for p in (clean(fields.get("last_name"), 40), clean(fields.get("first_name"), 40)) if p)
    return NewRequest(
        key_id=key_id(api_key), service_code=code, description=description, lat=lat, lng=lng,
        address=address, address_id=address_id, email=email, phone=phone, name=name,
        device_id=clean(fields.get("device_id"), 100) or None, media_url=media_url,
        client_request_id=client_id,
    )

