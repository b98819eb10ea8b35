"""A local stand-in for api.weixin.qq.com that records every call (demo mode and tests).

It answers the calls weilinli makes (token, stable_token, customer-service and template messages,
订阅通知, media download) the way WeChat does, and can be told to fail: `POST /_control` with
{"fail": N, "errcode": 45015} makes the next N sends answer that error (errcode 0 with
"status": 503 answers HTTP 503 instead); {"media_bytes": N} makes media/get answer an N-byte photo;
{"delay": S} makes every send answer S seconds late (recorded when it arrives: WeChat accepted it).
`GET /_records` lists what was received.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bot.demo import photos

# A 1×1 JPEG, what media/get returns for any media id.
PIXEL_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////"
    "////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
)


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self.token_fetches = 0
        self.fail_left = 0
        self.fail_errcode = 0
        self.fail_status = 503
        self.menu: dict[str, Any] | None = None  # the custom menu menu/create last accepted
        self.media_bytes = 0  # > 0: media/get answers a JPEG padded to this size (an oversized photo)
        self.delay = 0.0  # seconds each send's answer is held back (a slow WeChat)

    def add(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = {"id": len(self.records) + 1, "kind": kind, "at": time.time(), "body": body,
                      "touser": body.get("touser")}
            self.records.append(record)
            return record

    def take_failure(self) -> tuple[int, int] | None:
        with self.lock:
            if self.fail_left <= 0:
                return None
            self.fail_left -= 1
            return self.fail_errcode, self.fail_status

    def new_token(self) -> str:
        with self.lock:
            self.token_fetches += 1
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return token


def create_fake_wechat_app(recorder: Recorder | None = None) -> FastAPI:
    rec = recorder or Recorder()
    app = FastAPI(title="fake WeChat API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.recorder = rec

    def token_ok(request: Request) -> bool:
        return request.query_params.get("access_token") in rec.tokens

    def invalid_token() -> JSONResponse:
        return JSONResponse({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})

    @app.get("/cgi-bin/token")
    def token(grant_type: str = "", appid: str = "", secret: str = ""):
        if grant_type != "client_credential" or not appid or not secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        return {"access_token": rec.new_token(), "expires_in": 7200}

    @app.post("/cgi-bin/stable_token")
    async def stable_token(request: Request):
        return {"access_token": rec.new_token(), "expires_in": 7200}

    async def record_send(kind: str, request: Request):
        if not token_ok(request):
            return invalid_token()
        failure = rec.take_failure()
        body = await request.json()
        if failure is not None:
            errcode, status = failure
            rec.add(f"{kind}:failed", body)
            if errcode:
                return JSONResponse({"errcode": errcode, "errmsg": "simulated failure"})
            return Response("service unavailable", status_code=status)
        record = rec.add(kind, body)
        if rec.delay:
            await asyncio.sleep(rec.delay)
        return {"errcode": 0, "errmsg": "ok", "msgid": record["id"]}

    @app.post("/cgi-bin/message/custom/send")
    async def custom_send(request: Request):
        return await record_send("custom", request)

    @app.post("/cgi-bin/message/template/send")
    async def template_send(request: Request):
        return await record_send("template", request)

    @app.post("/cgi-bin/message/subscribe/bizsend")
    async def subscribe_send(request: Request):
        return await record_send("subscribe", request)

    @app.get("/cgi-bin/media/get")
    def media_get(request: Request, media_id: str = ""):
        if not token_ok(request):
            return invalid_token()
        rec.add("media_get", {"media_id": media_id})
        scene = photos.media_scene(media_id)
        if scene is not None:  # the simulator's and the demo history's photos are real pictures
            return Response(photos.png(scene), media_type="image/png")
        padding = max(rec.media_bytes - len(PIXEL_JPEG), 0)
        return Response(PIXEL_JPEG + b"\0" * padding, media_type="image/jpeg")

    @app.post("/cgi-bin/menu/create")
    async def menu_create(request: Request):
        """WeChat's limits: ≤ 3 buttons of ≤ 16 bytes, ≤ 5 sub-buttons of ≤ 60 bytes, keys ≤ 128 bytes."""
        if not token_ok(request):
            return invalid_token()
        body = await request.json()
        buttons = body.get("button") or []
        if not 1 <= len(buttons) <= 3:
            return JSONResponse({"errcode": 40017, "errmsg": "invalid button size"})
        for button in buttons:
            subs = button.get("sub_button") or []
            if len(button.get("name", "").encode()) > 16 or len(subs) > 5:
                return JSONResponse({"errcode": 40018, "errmsg": "invalid button name size"})
            for sub in subs:
                if len(sub.get("name", "").encode()) > 60 or len(sub.get("key", "").encode()) > 128:
                    return JSONResponse({"errcode": 40018, "errmsg": "invalid sub button name size"})
        rec.add("menu_create", body)
        with rec.lock:
            rec.menu = body
        return {"errcode": 0, "errmsg": "ok"}

    @app.get("/cgi-bin/get_current_selfmenu_info")
    def menu_current(request: Request):
        if not token_ok(request):
            return invalid_token()
        with rec.lock:
            menu = rec.menu
        if menu is None:
            return {"is_menu_open": 0}
        return {"is_menu_open": 1, "selfmenu_info": menu}

    @app.get("/_records")
    def records(touser: str | None = None, since: int = 0):
        with rec.lock:
            items = [r for r in rec.records if r["id"] > since and (touser is None or r["touser"] == touser)]
        return {"records": items, "token_fetches": rec.token_fetches}

    @app.post("/_control")
    async def control(request: Request):
        body = await request.json()
        with rec.lock:
            rec.fail_left = int(body.get("fail", 0))
            rec.fail_errcode = int(body.get("errcode", 0))
            rec.fail_status = int(body.get("status", 503))
            rec.media_bytes = int(body.get("media_bytes", 0))
            rec.delay = float(body.get("delay", 0))
            if body.get("clear"):
                rec.records.clear()
            if body.get("revoke_tokens"):
                rec.tokens.clear()
        return {"ok": True}

    return app
