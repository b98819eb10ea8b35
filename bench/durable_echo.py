"""The fair floor for `bench/webhook_bench.py`: a *durable* echo — the least a WeChat bot must do
before it may answer "received, number N".

Per request: check the URL signature (constant time, ±300 s), decrypt the AES envelope (wechatpy
checks msg_signature), parse the XML, claim the MsgId with one Redis `SET NX EX`, one committed
`INSERT … RETURNING id` on the database through SQLAlchemy, and the number in an encrypted text
reply. No classifier, no routing, no timeline, no outbox. Same stack and concurrency model as the
service (FastAPI, async endpoint, the blocking part in Starlette's thread pool).

    python -m uvicorn bench.durable_echo:create_app --factory --workers 2 --port 18100

Reads the service's settings (WEILINLI_DATABASE_URL, WEILINLI_REDIS_URL, WEILINLI_WECHAT_TOKEN,
_APPID, _AES_KEY). Its table `durable_echo` is created on start and is not part of the schema.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import PlainTextResponse, Response  # noqa: E402
from sqlalchemy import (  # noqa: E402
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
)
from starlette.concurrency import run_in_threadpool  # noqa: E402
from wechatpy import parse_message  # noqa: E402
from wechatpy.crypto import WeChatCrypto  # noqa: E402
from wechatpy.replies import TextReply  # noqa: E402

from bot.wechat import protocol  # noqa: E402  (signature + timestamp window, as the service)
from bot.wechat.protocol import BadRequest, Forbidden  # noqa: E402
from settings import get_settings  # noqa: E402

metadata = MetaData()
reports = Table(
    "durable_echo",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("msg_id", String(64), nullable=False),
    Column("openid", String(64), nullable=False),
    Column("content", String(2000), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)


def create_app() -> FastAPI:
    s = get_settings()
    if not s.redis_url:
        raise SystemExit("the durable echo needs WEILINLI_REDIS_URL (one Redis SET NX per request)")
    engine = create_engine(s.effective_database_url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    metadata.create_all(engine)  # pool as bot.core.db
    r = redis.Redis.from_url(s.redis_url)
    crypto = WeChatCrypto(s.wechat_token, s.wechat_aes_key, s.wechat_appid) if s.wechat_aes_key else None
    app = FastAPI(title="durable echo", docs_url=None, redoc_url=None, openapi_url=None)

    def store(msg_id: str, openid: str, content: str) -> int | None:
        if not r.set(f"durable-echo:{msg_id}", b"1", nx=True, ex=600):
            return None  # a retry: already stored
        with engine.begin() as conn:
            return conn.execute(
                insert(reports).values(msg_id=msg_id, openid=openid, content=content).returning(reports.c.id)
            ).scalar_one()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/wechat")
    async def wechat(request: Request) -> Response:
        q = request.query_params
        body = await request.body()
        try:
            protocol.verify(
                s.wechat_token,
                q.get("signature", ""),
                q.get("timestamp", ""),
                q.get("nonce", ""),
                window=s.wechat_timestamp_window,
            )
            if crypto is not None:
                body = protocol.decrypt(
                    body,
                    crypto,
                    s.wechat_token,
                    q.get("msg_signature", ""),
                    q.get("timestamp", ""),
                    q.get("nonce", ""),
                    s.wechat_timestamp_window,
                )
        except (Forbidden, BadRequest):
            return PlainTextResponse("forbidden", status_code=403)
        message = parse_message(body)
        if message.type != "text":
            return PlainTextResponse("success")
        number = await run_in_threadpool(store, str(message.id), message.source, message.content[:2000])
        if number is None:
            return PlainTextResponse("success")
        xml = TextReply(message=message, content=f"已收到，编号 {number}").render()
        if crypto is not None:
            xml = crypto.encrypt_message(xml, q.get("nonce", ""), str(int(time.time())))
        return Response(xml, media_type="application/xml")

    return app
