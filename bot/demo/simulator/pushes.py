"""Reading what the fake WeChat API recorded, as chat-friendly push cards.

In demo mode the fake API is mounted in this very app at `/_fake_wechat`; its recorder is read in
process when the configured API base points there, otherwise `<api base>/_records` over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.routing import Mount

from settings import get_settings

FAKE_MOUNT = "/_fake_wechat"
CHANNELS = {"custom": "客服消息", "template": "模板消息", "subscribe": "订阅通知", "media_get": "素材下载"}
SHOWN = ("custom", "template", "subscribe")


class PushesUnavailable(Exception):
    pass


def _mounted_recorder(app) -> Any | None:
    for route in getattr(app, "routes", []):
        if isinstance(route, Mount) and route.path == FAKE_MOUNT:
            return getattr(getattr(route.app, "state", None), "recorder", None)
    return None


def _points_at_mount(api_base: str, own_bases: list[str]) -> bool:
    base = api_base.rstrip("/")
    return any(base == own.rstrip("/") + FAKE_MOUNT for own in own_bases if own)


def fetch_records(app, own_bases: list[str], since: int, openid: str | None) -> list[dict[str, Any]]:
    settings = get_settings()
    recorder = _mounted_recorder(app)
    if recorder is not None and _points_at_mount(settings.wechat_api_base, own_bases):
        with recorder.lock:
            return [dict(r) for r in recorder.records
                    if r["id"] > since and (openid is None or r["touser"] == openid)]
    url = settings.wechat_api_base.rstrip("/") + "/_records"
    params: dict[str, Any] = {"since": since}
    if openid:
        params["touser"] = openid
    try:
        response = httpx.get(url, params=params, timeout=3)
        response.raise_for_status()
        return list(response.json()["records"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise PushesUnavailable(f"fake WeChat API at {settings.wechat_api_base} not readable: {exc}") from exc


def _value(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("value", ""))
    return "" if item is None else str(item)


def describe(body: dict[str, Any]) -> tuple[str, str]:
    """(title, text) of one pushed message, whatever its WeChat JSON shape."""
    msgtype = body.get("msgtype")
    if msgtype == "text":
        return "", str((body.get("text") or {}).get("content", ""))
    if msgtype == "news":
        articles = (body.get("news") or {}).get("articles") or []
        lines = [f"{a.get('title', '')}\n{a.get('description', '')}".strip() for a in articles]
        return "图文消息", "\n\n".join(lines)
    if msgtype in ("image", "voice", "video", "mpnews", "msgmenu", "wxcard", "miniprogrampage"):
        return "", f"[{msgtype}]"
    if "template_id" in body:
        data = body.get("data") or {}
        first = _value(data.get("first"))
        rest = [_value(v) for k, v in data.items() if k != "first" and _value(v)]
        lines = [first, *rest] if first else rest
        url = body.get("url")
        if url:
            lines.append(f"详情：{url}")
        return f"模板 {body.get('template_id')}", "\n".join(lines)
    return "", json.dumps(body, ensure_ascii=False)


def card(record: dict[str, Any]) -> dict[str, Any]:
    kind = str(record.get("kind", ""))
    base, _, state = kind.partition(":")
    body = record.get("body") or {}
    title, text = describe(body if isinstance(body, dict) else {})
    return {
        "id": record.get("id"),
        "at": record.get("at"),
        "touser": record.get("touser"),
        "kind": kind,
        "channel": CHANNELS.get(base, base),
        "failed": state == "failed",
        "title": title,
        "text": text,
        "body": body,
    }


def pushes(app, own_bases: list[str], since: int, openid: str | None) -> dict[str, Any]:
    records = fetch_records(app, own_bases, since, openid)
    last = max([since, *(int(r.get("id") or 0) for r in records)])
    cards = [card(r) for r in records if str(r.get("kind", "")).partition(":")[0] in SHOWN]
    cards.sort(key=lambda c: c["id"] or 0)
    return {"pushes": cards, "last": last}
