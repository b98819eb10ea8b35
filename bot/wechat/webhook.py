"""`GET|POST /wechat`: WeChat's server calls this; we answer within its 5-second limit.

Order of checks: size → signature and timestamp → (safe mode) decrypt → parse → de-duplicate →
rate limit → handlers. Handlers and the database run in a worker thread, never on the event loop.
A delivery not answered within `WEILINLI_REPLY_BUDGET` is stored first and answered "已收到"
(bot.wechat.inbox): its handling completes in the background.
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

from bot.core.db import session_factory
from bot.core.store import Claim, DeliveryStore, get_store
from bot.wechat import inbox, protocol
from bot.wechat.inbox import SORRY, Ticket
from bot.wechat.protocol import BadRequest, Forbidden
from handlers.router import Incoming
from handlers.texts import RATE_LIMITED
from settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter()
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
    ticket = Ticket(get_settings().reply_budget)  # the budget counts from here, before any wait
    s = get_settings()
    q = request.query_params
    try:
        body = await _read_body(request, s.wechat_max_body)
        protocol.verify(s.wechat_token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""),
                        window=s.wechat_timestamp_window)
        crypto = _crypto()
        if crypto is None:
            # In plaintext mode the signature covers timestamp and nonce, not the body: a captured
            # signature replayed with another body is refused; WeChat's own retries repeat the body.
            # (In safe mode msg_signature covers the encrypted body, so decrypt refuses that replay.)
            nonce_key = f"{q.get('timestamp')}:{q.get('nonce')}:{q.get('signature')}"
            fresh = await _in_intake(request, get_store().same_body_for_nonce, nonce_key,
                                     hashlib.sha1(body).hexdigest(), 2 * s.wechat_timestamp_window)
            if not fresh:
                raise Forbidden("replayed signature with a different body")
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
    reply = await _answer_in_time(request, incoming, ticket)
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


async def _answer_in_time(request: Request, incoming: Incoming, ticket: Ticket) -> str | None:
    """The handler's reply if it is ready within the budget; else the message is stored first and
    that answer sent, and the handler, when it gets that far, rolls back instead of committing."""
    load = request.app.state.runtime.component(inbox.Load)
    if (load.waiting() and load.expected() > ticket.budget / 3) or load.pressed():
        # Queued behind a full round of handlers already, or a flood is on: answering from the
        # queue would take longer than storing first, and storing first costs a fraction of it.
        load.stored_first()
        return await _store_first(request, incoming, claim=True)
    work = asyncio.ensure_future(_in_thread(request, answer, incoming, ticket, load))
    try:
        return await asyncio.wait_for(asyncio.shield(work), ticket.remaining())
    except TimeoutError:
        taken_from = ticket.take()
        if taken_from is None:  # it is committing: its answer is a moment away
            return await work
        work.add_done_callback(_ignore_result)
        if taken_from == Ticket.QUEUED:  # it waited for a thread all along: the webhook is flooded
            load.stored_first()
        log.info("webhook: %s not answered within %.1f s: stored first", incoming.key, ticket.budget)
        return await _store_first(request, incoming, claim=taken_from == Ticket.QUEUED)


async def _store_first(request: Request, incoming: Incoming, *, claim: bool) -> str | None:
    """Stored first from the event loop's side: `claim` when no handler thread claimed it. With the
    app running, together with the messages stored first at the same moment (bot.wechat.together)."""
    together = getattr(request.app.state, "store_first", None)
    if together is not None:
        return await together.store(incoming, claim=claim)
    view = None if claim else DeliveryStore.claimed_elsewhere(get_store(), incoming.openid)
    return await _in_intake(request, lambda: inbox.defer(incoming, view=view))


async def _in_intake(request: Request, fn, *args):
    """`fn(*args)` in the intake's threads: the short store calls made before a message is handled
    (the replay check, storing first) never queue behind handlers that run late."""
    limiter = getattr(request.app.state, "intake_threads", None)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def _ignore_result(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("webhook: a handler taken over failed", exc_info=task.exception())


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


class _Taken(Exception):
    """The webhook stored the message first while this handler ran: nothing of it may commit."""


def answer(incoming: Incoming, ticket: Ticket | None = None, load: inbox.Load | None = None) -> str | None:
    """The reply text for one delivery, processed once; None for a retry of a claimed delivery,
    and when the webhook took the message over (`ticket`: its race against the reply budget).
    `load` learns how long the full path takes."""
    ticket = ticket or Ticket(None)
    if not ticket.start():
        return None
    started = time.monotonic()
    reply = _answer(incoming, ticket, load)
    if load is not None and ticket.handled:  # the full path ran to its end
        load.observe(time.monotonic() - started)
    return reply


def _answer(incoming: Incoming, ticket: Ticket, load: inbox.Load | None) -> str | None:
    store = get_store()
    # the claim, the rate limit's count and the sender's dialog: one round trip
    delivery = store.claim_counted(incoming.key, incoming.openid, get_settings().rate_limit_per_minute)
    if delivery is None:
        return None
    view = DeliveryStore(store, incoming.openid, delivery)
    try:
        if delivery.limited:
            reply = RATE_LIMITED
        elif ticket.behind():  # queued a third of the budget already: store it and answer now
            if load is not None:
                load.stored_first()
            return inbox.defer(incoming, view=view) if ticket.commit() else None
        else:
            reply = _handle(incoming, view, ticket) or ""
    except _Taken:
        return None
    except Exception:
        if ticket.state == Ticket.TAKEN:
            log.exception("handling %s failed after it was stored first", incoming.key)
            return None
        log.exception("handling %s failed", incoming.key)
        store.release(incoming.key)
        return SORRY
    store.finish(incoming.key, reply, dialogs=view.writes)  # the reply and the dialog: one round trip
    return reply


def _handle(incoming: Incoming, store: DeliveryStore, ticket: Ticket) -> str | None:
    try:
        return _handle_once(incoming, store, ticket)
    except IntegrityError:
        if not store.first_delivery:
            raise
        # The claim was fresh but an earlier delivery had stored the message (Redis lost its claim:
        # a restart, a flush): once more, looking the message up, so the retry gets that answer.
        log.warning("handling %s: stored by an earlier delivery, handled again", incoming.key)
        store.distrust()
        return _handle_once(incoming, store, ticket)


def _handle_once(incoming: Incoming, store: DeliveryStore, ticket: Ticket) -> str | None:
    with session_factory()() as session:
        store.serve(session)
        try:
            reply = inbox.handle(session, incoming, store)
            if not ticket.commit():
                raise _Taken
            session.commit()
            ticket.handled = True  # its dialog changes are written with the reply (store.finish)
            return reply
        except BaseException:
            session.rollback()
            raise
