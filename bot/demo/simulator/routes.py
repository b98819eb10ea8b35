"""HTTP side of the simulator: the page, its static files, and a small JSON API.

The backend plays WeChat's servers: it builds the message XML, signs it with the configured token
(and in safe mode encrypts it with the EncodingAESKey) through `WeChatSide`, posts it to the
service's own `/wechat` over real HTTP, and decrypts the reply. All endpoints are plain `def`, so
FastAPI runs them in its threadpool and the blocking HTTP call never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import httpx
import xmltodict
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator

from bot.demo import photos
from bot.demo.simulator import personas
from bot.demo.simulator.pushes import PushesUnavailable, pushes
from bot.wechat.wechat_side import Reply, WeChatSide
from settings import get_settings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC = {  # name → media type; nothing else under static/ is served
    "simulator.css": "text/css; charset=utf-8",
    "simulator.js": "text/javascript; charset=utf-8",
}
OPENID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_TEXT = 2000
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="simulator")
templates = Jinja2Templates(directory=str(HERE / "templates"))


def demo_only() -> None:
    """Every simulator route is 404 unless demo/dev mode is on, even if the router got mounted."""
    if not get_settings().demo:
        raise HTTPException(status_code=404, detail="Not Found")


router = APIRouter(prefix="/simulator", dependencies=[Depends(demo_only)], tags=["simulator (demo)"])


def service_mode() -> dict:
    s = get_settings()
    return {
        "safe_mode": s.safe_mode,
        "label": "安全模式（AES 加密）" if s.safe_mode else "明文模式",
        "token_set": bool(s.wechat_token),
        "appid": s.wechat_appid,
    }


def own_bases(request: Request) -> list[str]:
    """Where this service can be reached: the configured public URL first, then this request's base."""
    bases = [get_settings().public_url.rstrip("/"), str(request.base_url).rstrip("/")]
    return [b for i, b in enumerate(bases) if b and b not in bases[:i]]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request) -> HTMLResponse:
    config = {
        "personas": personas.personas(),
        "places": personas.places(),
        "chips": personas.CHIPS,
        "menu": personas.MENU,
        "mode": service_mode(),
        "api": "/simulator/api",
        "fakeWechat": "/_fake_wechat/_records",
    }
    return templates.TemplateResponse(request, "simulator.html", {"config": config, "mode": config["mode"],
                                                                  "personas": config["personas"]})


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    media = STATIC.get(name)
    if media is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(HERE / "static" / name, media_type=media, headers={"Cache-Control": "no-cache"})


@router.get("/photos/{name}.png", include_in_schema=False)
def photo(name: str) -> Response:
    """The demo's pictures (bot/demo/photos.py): what the simulator's photos and the demo 晒单 show."""
    if name not in photos.SCENES:
        raise HTTPException(status_code=404, detail="Not Found")
    return Response(photos.png(name), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


class SendRequest(BaseModel):
    openid: str = Field(..., description="the simulated user's OpenID")
    kind: Literal["text", "voice", "image", "location", "link", "subscribe", "unsubscribe", "click"] = "text"
    content: str = Field("", max_length=MAX_TEXT, description="text; voice: Recognition, may be empty")
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    label: str = Field("", max_length=200, description="location label / link title")
    key: str = Field("", max_length=64, description="menu EventKey for kind=click")
    aes: bool = Field(False, description="sign and encrypt in safe mode (only works if the service is in it)")

    @field_validator("openid")
    @classmethod
    def _openid(cls, value: str) -> str:
        value = value.strip()
        if not OPENID.match(value):
            raise ValueError("OpenID: 1–64 letters, digits, '-' or '_'")
        return value


class SendResult(BaseModel):
    status: int
    reply: str
    reply_type: str | None
    raw: str
    decrypted: str = Field("", description="safe mode: the reply XML after decryption")
    sent: str
    aes: bool
    elapsed_ms: int
    url: str


class _Side(WeChatSide):
    """WeChatSide that remembers the plaintext XML it sent, for the page's 报文 view."""

    sent_xml = ""
    photo_base = ""
    shots = 0

    def image(self, openid: str, **kw) -> Reply:
        """A photo as WeChat sends it, but of a real demo picture this service serves itself."""
        scene = list(photos.SCENES)[_Side.shots % len(photos.SCENES)]
        _Side.shots += 1
        return self.send(openid, "image", {"PicUrl": f"{self.photo_base}/simulator/photos/{scene}.png",
                                           "MediaId": f"{photos.MEDIA_PREFIX}{scene}"}, **kw)

    def post_xml(self, xml: str, *, params: dict[str, str] | None = None) -> Reply:
        self.sent_xml = xml
        return super().post_xml(xml, params=params)


def _deliver(side: _Side, body: SendRequest) -> Reply:
    openid = body.openid
    match body.kind:
        case "text":
            if not body.content.strip():
                raise HTTPException(status_code=422, detail="文字消息不能为空")
            return side.text(openid, body.content)
        case "voice":
            return side.voice(openid, body.content)
        case "image":
            return side.image(openid)
        case "location":
            if body.lat is None or body.lng is None:
                raise HTTPException(status_code=422, detail="位置消息需要纬度和经度")
            return side.location(openid, body.lat, body.lng, body.label)
        case "link":
            return side.link(openid, body.label or "链接", body.content, "https://example.com/")
        case "subscribe" | "unsubscribe":
            return side.event(openid, body.kind)
        case "click":
            if not body.key:
                raise HTTPException(status_code=422, detail="菜单点击需要 key")
            return side.event(openid, "CLICK", body.key)
    raise HTTPException(status_code=422, detail="unknown kind")  # pragma: no cover - Literal guards it


def _reply_text(reply: Reply) -> tuple[str, str | None]:
    xml = reply.xml or {}
    kind = xml.get("MsgType")
    if kind == "news":
        articles = (xml.get("Articles") or {}).get("item") or []
        if isinstance(articles, dict):
            articles = [articles]
        text = "\n\n".join(f"{a.get('Title', '')}\n{a.get('Description', '')}".strip() for a in articles)
        return text, kind
    if kind and kind != "text":
        return f"[{kind}]", kind
    return reply.text, kind


def _send_blocking(body: SendRequest, bases: list[str]) -> SendResult | JSONResponse:
    s = get_settings()
    aes = bool(body.aes and s.safe_mode)
    errors = []
    for base in bases:
        side = _Side(base, s.wechat_token, aes_key=s.wechat_aes_key if aes else "", appid=s.wechat_appid,
                     timeout=10)
        side.photo_base = bases[0]
        started = time.monotonic()
        try:
            reply = _deliver(side, body)
        except httpx.TransportError as exc:  # the public URL may not be reachable from here: try the next
            errors.append(f"{base}: {exc!r}")
            continue
        except HTTPException:
            raise
        except Exception as exc:  # an undecryptable or unparsable answer: show it, don't 500 the page
            log.warning("simulator: reading the reply failed: %r", exc)
            return JSONResponse({"detail": f"无法解析公众号的回复：{exc!r}"}, status_code=502)
        finally:
            side.close()
        text, kind = _reply_text(reply)
        elapsed = round((time.monotonic() - started) * 1000)
        decrypted = xmltodict.unparse({"xml": reply.xml}, pretty=True) if aes and reply.xml else ""
        return SendResult(status=reply.status, reply=text, reply_type=kind, raw=reply.body,
                          decrypted=decrypted, sent=side.sent_xml, aes=aes, elapsed_ms=elapsed,
                          url=f"{base}/wechat")
    return JSONResponse({"detail": "无法连接到 /wechat：" + "; ".join(errors)}, status_code=502)


@router.post("/api/send", response_model=SendResult)
async def send(body: SendRequest, request: Request) -> SendResult | JSONResponse:
    """Send one message as WeChat would (signed; encrypted when `aes`) and return the bot's passive reply.

    The blocking round trip to /wechat runs on the simulator's own small thread pool: not on the
    event loop, and not on the threadpool the webhook itself needs to answer it.
    """
    bases = own_bases(request)
    return await asyncio.get_running_loop().run_in_executor(_POOL, _send_blocking, body, bases)


@router.get("/api/pushes")
def list_pushes(request: Request, openid: str | None = Query(None, max_length=64),
                since: int = Query(0, ge=0)) -> dict:
    """Pushes the fake WeChat API received (客服/模板/订阅通知), oldest first; everyone's if no openid."""
    openid = (openid or "").strip() or None
    try:
        return pushes(request.app, own_bases(request), since, openid)
    except PushesUnavailable as exc:
        return JSONResponse({"detail": str(exc), "pushes": [], "last": since}, status_code=502)


@router.get("/api/config")
def config() -> dict:
    """Personas, demo places, chat-word chips, menu keys and the service's WeChat mode."""
    return {"personas": personas.personas(), "places": personas.places(), "chips": personas.CHIPS,
            "menu": personas.MENU, "mode": service_mode()}
