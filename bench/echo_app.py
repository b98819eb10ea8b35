"""The baseline for `bench/webhook_bench.py`: a plain wechatpy echo app, nothing of weilinli's.

FastAPI (as the service) + wechatpy: check the URL signature, decrypt the AES envelope (wechatpy
checks msg_signature), parse the message, answer a `TextReply` echoing the content, encrypt it.
No database, no Redis, no classifier — what "a WeChat bot that does nothing" costs on this stack.

    python -m uvicorn bench.echo_app:create_app --factory --workers 2 --port 18100

Reads the same WeChat settings as the service (WEILINLI_WECHAT_TOKEN, _APPID, _AES_KEY).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import PlainTextResponse, Response  # noqa: E402
from wechatpy import parse_message  # noqa: E402
from wechatpy.crypto import WeChatCrypto  # noqa: E402
from wechatpy.exceptions import InvalidSignatureException  # noqa: E402
from wechatpy.replies import TextReply  # noqa: E402
from wechatpy.utils import check_signature  # noqa: E402

from settings import get_settings  # noqa: E402


def create_app() -> FastAPI:
    s = get_settings()
    token = s.wechat_token
    crypto = WeChatCrypto(token, s.wechat_aes_key, s.wechat_appid) if s.wechat_aes_key else None
    app = FastAPI(title="wechatpy echo", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/wechat")
    async def wechat(request: Request) -> Response:
        q = request.query_params
        body = await request.body()
        try:
            check_signature(token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
            if crypto is not None:
                body = crypto.decrypt_message(body, q.get("msg_signature", ""), q.get("timestamp", ""),
                                              q.get("nonce", ""))
        except InvalidSignatureException:
            return PlainTextResponse("forbidden", status_code=403)
        message = parse_message(body)
        if message.type != "text":
            return PlainTextResponse("success")
        xml = TextReply(message=message, content=message.content).render()
        if crypto is not None:
            xml = crypto.encrypt_message(xml, q.get("nonce", ""), str(int(time.time())))
        return Response(xml, media_type="application/xml")

    return app
