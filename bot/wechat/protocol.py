"""The WeChat server protocol on wechatpy, with the holes wechatpy leaves closed.

- signatures compared in constant time, and timestamps checked against a window;
- DOCTYPE / ENTITY declarations refused before any parser sees them;
- every parse failure (KeyError, ExpatError, ValueError, lists from repeated tags…) is one error;
- reply fields escaped, since wechatpy renders them into CDATA unescaped (`]]>` would forge XML).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from typing import Any

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.messages import MESSAGE_TYPES
from wechatpy.replies import TextReply

from handlers.router import Incoming


class BadRequest(Exception):
    """Malformed or hostile input: answered with 400, nothing processed."""


class Forbidden(Exception):
    """A bad signature or a stale timestamp: answered with 403."""


DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verify(token: str, signature: str, timestamp: str, nonce: str, *, window: int, extra: str | None = None):
    """Raise Forbidden unless the signature matches and the timestamp is fresh."""
    parts = [token, timestamp, nonce] + ([extra] if extra is not None else [])
    if not hmac.compare_digest(sign(*parts).encode(), (signature or "").encode()):
        raise Forbidden("bad signature")
    try:
        skew = abs(time.time() - int(timestamp))
    except (TypeError, ValueError) as exc:
        raise Forbidden("bad timestamp") from exc
    if skew > window:
        raise Forbidden("stale timestamp")


def _xml_dict(body: bytes) -> dict[str, Any]:
    if DTD.search(body):
        raise BadRequest("DOCTYPE and entity declarations are not accepted")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not UTF-8") from exc
    try:
        data = xmltodict.parse(text, disable_entities=True)["xml"]
    except Exception as exc:  # ExpatError, KeyError, ValueError, TypeError: all mean malformed
        raise BadRequest(f"malformed XML: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise BadRequest("empty <xml>")
    return data


def decrypt(body: bytes, crypto: WeChatCrypto, token: str, msg_signature: str, timestamp: str, nonce: str,
            window: int) -> bytes:
    """Safe mode: check msg_signature over the Encrypt field, then decrypt it to the inner XML."""
    outer = _xml_dict(body)
    encrypted = outer.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise BadRequest("no Encrypt element")
    verify(token, msg_signature, timestamp, nonce, window=window, extra=encrypted)
    try:
        inner = crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
    except InvalidSignatureException as exc:
        raise Forbidden("bad msg_signature") from exc
    except Exception as exc:  # ValueError, TypeError, struct.error, IndexError, UnicodeError…: all garbage
        raise BadRequest(f"cannot decrypt: {type(exc).__name__}") from exc
    return inner.encode("utf-8") if isinstance(inner, str) else inner


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("repeated or nested element where text was expected")
    return value


def _float(value: Any, bound: float = 180.0) -> float | None:
    """A coordinate: finite and within ±bound (NaN or inf stored would break every later read)."""
    try:
        number = float(_text(value)) if value not in (None, "") else None
    except ValueError as exc:
        raise BadRequest("bad number") from exc
    if number is not None and not (math.isfinite(number) and abs(number) <= bound):
        raise BadRequest("coordinate out of range")
    return number


# Longest values the columns hold; WeChat's own are far shorter (an OpenID has 28 characters). A
# value past its column would fail the insert on every retry and lose the message: an OpenID that
# long cannot be a user (refused), a MediaId that long cannot be downloaded (the text still counts).
MAX_OPENID, MAX_MEDIA_ID = 64, 200


def _bounded(value: str, limit: int, name: str) -> str:
    if len(value) > limit:
        raise BadRequest(f"{name} longer than {limit} characters")
    return value


def _web_url(value: Any) -> str | None:
    """Only an http(s) link is kept: a `javascript:` one would be an href in the admin page."""
    url = _text(value).strip()
    return url if url.lower().startswith(("https://", "http://")) and len(url) <= 2000 else None


def _media_id(data: dict[str, Any]) -> str | None:
    media_id = _text(data.get("MediaId")) or None
    return media_id if media_id is None or len(media_id) <= MAX_MEDIA_ID else None


def _key(raw: str) -> str:
    """The retry key as stored (source_key holds 160): a long one is replaced by its digest."""
    return raw if len(raw) <= 120 else f"h:{hashlib.sha256(raw.encode()).hexdigest()}"


def _known_type(body: bytes, msg_type: str) -> bool:
    """Whether wechatpy knows this message type (its registry; the XML is not parsed again)."""
    if not msg_type.startswith("device_"):
        return msg_type in MESSAGE_TYPES
    try:  # device messages: wechatpy's own rules name their class
        return parse_message(body.decode("utf-8")).type != "unknown"
    except Exception as exc:
        raise BadRequest(f"malformed message: {type(exc).__name__}") from exc


def parse(body: bytes) -> Incoming:
    data = _xml_dict(body)
    msg_type = _text(data.get("MsgType")).lower()
    openid = _bounded(_text(data.get("FromUserName")), MAX_OPENID, "FromUserName")
    if not msg_type or not openid or not _text(data.get("ToUserName")):
        raise BadRequest("missing MsgType, FromUserName or ToUserName")
    account = _text(data.get("ToUserName"))
    create_time = _text(data.get("CreateTime"))
    if msg_type == "event":
        event = _text(data.get("Event")).lower()
        key = _text(data.get("EventKey"))
        incoming = Incoming(openid=openid, account=account, msg_type="event", event=event, event_key=key,
                            key=_key(f"evt:{openid}:{create_time}:{event}:{key}"))
        if event == "location":
            incoming.lat, incoming.lng = _float(data.get("Latitude"), 90), _float(data.get("Longitude"))
        return incoming
    kind = msg_type if _known_type(body, msg_type) else "unknown"
    msg_id = _text(data.get("MsgId")) or f"{create_time}:{msg_type}"  # any length: a long key is hashed
    # The sender is part of the key: a MsgId is unique per account's sender, and another user's
    # message with the same MsgId must not be answered with this one's reply.
    incoming = Incoming(openid=openid, account=account, msg_type=kind, key=_key(f"msg:{openid}:{msg_id}"))
    if msg_type == "text":
        incoming.text = _text(data.get("Content"))
    elif msg_type == "voice":
        incoming.text = _text(data.get("Recognition"))
        incoming.media_id = _media_id(data)
    elif msg_type == "image":
        incoming.media_id = _media_id(data)
        incoming.pic_url = _web_url(data.get("PicUrl"))
    elif msg_type == "location":
        incoming.lat, incoming.lng = _float(data.get("Location_X"), 90), _float(data.get("Location_Y"))
        incoming.label = _text(data.get("Label")) or None
        if incoming.lat is None or incoming.lng is None:
            raise BadRequest("location without coordinates")
    elif msg_type == "link":
        incoming.text = "\n".join(p for p in (_text(data.get("Title")), _text(data.get("Description"))) if p)
        incoming.url = _web_url(data.get("Url"))
    incoming.text = CONTROL.sub("", incoming.text)[:2000]
    return incoming


def cdata_safe(text: str) -> str:
    """Split any `]]>` so that it cannot close the CDATA section wechatpy wraps it in."""
    return CONTROL.sub("", text).replace("]]>", "]]]]><![CDATA[>")


def render_reply(incoming: Incoming, text: str) -> str:
    reply = TextReply(source=cdata_safe(incoming.account), target=cdata_safe(incoming.openid),
                      content=cdata_safe(text))
    return reply.render()
