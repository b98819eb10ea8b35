"""`GET|POST /wechat`: WeChat's server calls this; we answer within its 5-second limit.

Order of checks: size → signature and timestamp → (safe mode) decrypt → parse → de-duplicate →
rate limit → handlers. Handlers and the database run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import IntegrityError
from wechatpy.crypto import WeChatCrypto

import handlers
from bot.core.db import session_factory
from bot.core.store import Claim, DeliveryStore, get_store
from bot.events.intake import touch_resident
from bot.wechat import protocol
from bot.wechat.protocol import BadRequest, Forbidden
from handlers.router import Context, Incoming
from handlers.texts import RATE_LIMITED
from settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter()
SORRY = "系统繁忙，您的消息未能处理，请稍后再发一次。紧急情况请直接拨打 119 / 120 / 110。"
RETRY_WAIT = 3.0  # seconds a retry waits for the first attempt's answer (WeChat gives up at 5)


def _crypto() -> WeChatCrypto | None:
    s = get_settings()
    return WeChatCrypto(s.wechat_token, s.wechat_aes_key, s.wechat_appid) if s.safe_mode else None


def _text(body: str, status: int = 200) -> Response:
    return PlainTextResponse(body, status_code=status)


@router.get("/wechat", include_in_schema=False)
def verify_url(signature: str = "", timestamp: str = "", nonce: str = "", echostr: str = "") -> Response:
    s = get_settings()
    try:
        protocol.verify(s.wechat_token, signature, timestamp, nonce, window=s.wechat_timestamp_window)
    except Forbidden as exc:
        return _text(str(exc), 403)
    return _text(echostr)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadRequest("body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest("body too large")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/wechat", include_in_schema=False)
async def receive(request: Request) -> Response:
    s = get_settings()
    q = request.query_params
    try:
        body = await _read_body(request, s.wechat_max_body)
        protocol.verify(s.wechat_token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""),
                        window=s.wechat_timestamp_window)
        # The signature covers timestamp and nonce, not the body (plaintext mode): a captured
        # signature replayed with another body is refused; WeChat's own retries repeat the body.
        nonce_key = f"{q.get('timestamp')}:{q.get('nonce')}:{q.get('signature')}"
        fresh = await _in_thread(request, get_store().same_body_for_nonce, nonce_key,
                                 hashlib.sha1(body).hexdigest(), 2 * s.wechat_timestamp_window)
        if not fresh:
            raise Forbidden("replayed signature with a different body")
        crypto = _crypto()
        if crypto is not None and q.get("encrypt_type") == "aes":
            body = protocol.decrypt(body, crypto, s.wechat_token, q.get("msg_signature", ""),
                                    q.get("timestamp", ""), q.get("nonce", ""), s.wechat_timestamp_window)
        elif crypto is not None:
            raise Forbidden("safe mode requires encrypt_type=aes")
        incoming = protocol.parse(body)
    except Forbidden as exc:
        log.warning("webhook 403: %s", exc)
        return _text("forbidden", 403)
    except BadRequest as exc:
        log.warning("webhook 400: %s", exc)
        return _text(f"bad request: {exc}", 400)
    reply = await _in_thread(request, answer, incoming)
    if reply is None:  # a retry of a delivery still being processed: wait here, not in a worker thread
        reply = await _first_answer(request, incoming)
    if not reply:
        return _text("success")
    xml = protocol.render_reply(incoming, reply)
    if crypto is not None:
        xml = crypto.encrypt_message(xml, q.get("nonce", ""), str(int(time.time())))
    return Response(xml, media_type="application/xml")


async def _in_thread(request: Request, fn, *args):
    """`fn(*args)` in the webhook's own threads (`app.state.webhook_threads`, WEILINLI_THREADS of
    them): admin pages, exports and API calls use the default pool, so however busy they are a
    report never queues behind them."""
    limiter = getattr(request.app.state, "webhook_threads", None)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


async def _first_answer(request: Request, incoming: Incoming) -> str:
    """The first attempt's reply; or, when its process died (kill -9, a crash) and its claim is
    orphaned, this retry processes the message itself — `source_key` still stops a double event."""
    deadline = time.monotonic() + RETRY_WAIT
    while time.monotonic() < deadline:
        state, reply = await _in_thread(request, get_store().first_answer, incoming.key)
        if state == Claim.DONE:
            return reply or ""
        if state == Claim.ORPHANED:
            reply = await _in_thread(request, answer, incoming)
            if reply is not None:
                return reply
        await asyncio.sleep(0.05)
    return ""


def answer(incoming: Incoming) -> str | None:
    """The reply text for one delivery, processed once; None for a retry of a claimed delivery."""
    store = get_store()
    # the claim, the rate limit's count and the sender's dialog: one round trip
    delivery = store.claim_counted(incoming.key, incoming.openid, get_settings().rate_limit_per_minute)
    if delivery is None:
        return None
    view = DeliveryStore(store, incoming.openid, delivery)
    try:
        if delivery.limited:
            reply = RATE_LIMITED
        else:
            reply = _handle(incoming, view) or ""
    except Exception:
        log.exception("handling %s failed", incoming.key)
        store.release(incoming.key)
        return SORRY
    store.finish(incoming.key, reply, dialogs=view.writes)  # the reply and the dialog: one round trip
    return reply


def _handle(incoming: Incoming, store) -> str | None:
    try:
        return _handle_once(incoming, store)
    except IntegrityError:
        if not store.first_delivery:
            raise
        # The claim was fresh but an earlier delivery had stored the message (Redis lost its claim:
        # a restart, a flush): once more, looking the message up, so the retry gets that answer.
        log.warning("handling %s: stored by an earlier delivery, handled again", incoming.key)
        store.distrust()
        return _handle_once(incoming, store)


def _handle_once(incoming: Incoming, store) -> str | None:
    with session_factory()() as session:
        store.serve(session)
        try:
            if incoming.msg_type != "event" or incoming.event == "subscribe":
                touch_resident(session, incoming.openid)
            reply = handlers.dispatch(Context(incoming=incoming, session=session, store=store))
            session.commit()
            return reply
        except BaseException:
            session.rollback()
            raise
