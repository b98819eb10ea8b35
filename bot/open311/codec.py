"""GeoReport v2 on the wire: JSON or XML out, form / JSON / multipart fields and ISO 8601 dates in.

Knows nothing of events: it encodes dicts and lists, decodes request bodies and reports what is
wrong as an `Open311Error`, which `errors` renders as the spec's error list.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from bot.domain.vocabulary import local_zone

FORMATS = ("json", "xml")
MAX_BODY = 64 * 1024

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


def clean(value: Any, limit: int) -> str:
    """A submitted field as text: the first of a repeated field, XML-illegal characters dropped, trimmed, capped."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return _XML_ILLEGAL.sub("", str(value)).strip()[:limit]


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_datetime(value: str, name: str) -> datetime:
    """ISO 8601 → UTC; a time without offset is local; a date-only end_date means the end of that day."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be an ISO 8601 date/time, e.g. 2026-11-01T00:00:00+08:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=local_zone())
    if name == "end_date" and _DATE_ONLY.match(text):  # a whole day: end_date=2026-11-25 includes that day
        dt += timedelta(days=1) - timedelta(microseconds=1)
    return dt.astimezone(UTC)


async def read_fields(request: Request) -> dict[str, Any]:
    """The submitted fields: query string plus a form-encoded, JSON or multipart body (no files), size-capped."""
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

