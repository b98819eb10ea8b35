"""Store first, answer at once, finish in the background: what the webhook does with a message it
cannot fully handle within its reply budget (`WEILINLI_REPLY_BUDGET`).

A flood (a burst water main: a district writes at once) or a slow classifier or database must not
push replies past WeChat's 5 seconds — WeChat would retry three times, tripling the load exactly
when people need answers. So a delivery races its budget (`Ticket`):

- if it waited in the queue for a third of the budget before a thread took it, or its handling is
  still running when the budget is spent, the message is written to `inbox_message` (one committed
  INSERT, with an event number reserved for what reads as a report) and answered
  "已收到，编号…，分类与派单结果稍后推送";
- the handling that overran is then rolled back, never committed beside the stored copy;
- the scheduler's `inbox` job handles stored messages through the same routers, oldest first, and
  pushes the outcome; a report uses the number it was promised.

Nothing is lost (the row is committed before the answer leaves, and a lease makes a message whose
handler died due again) and nothing is doubled (the row's key is the delivery's key; events keep
`source_key`; the outcome push has a dedup key).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

import handlers
from bot.core.db import insert_ignore, lease, session_factory, utcnow
from bot.core.store import DeliveryStore, Store, get_store
from bot.domain.models import Event, InboxMessage
from bot.domain.numbering import next_number
from bot.domain.vocabulary import find_number
from bot.events import intake
from bot.notify import outbox
from bot.places import roles
from handlers.router import Context, Incoming
from handlers.texts import RATE_LIMITED
from settings import get_settings

log = logging.getLogger(__name__)

SORRY = "系统繁忙，您的消息未能处理，请稍后再发一次。紧急情况请直接拨打 119 / 120 / 110。"
ACK_REPORT = "已收到，编号{number}，分类与派单结果稍后推送。紧急情况请直接拨打 119 / 120 / 110。"
ACK_MESSAGE = "已收到您的消息，当前反映人数较多，处理结果稍后推送给您。紧急情况请直接拨打 119 / 120 / 110。"
FAILED = "抱歉，您刚才的消息未能处理，请再发一次。紧急情况请直接拨打 119 / 120 / 110。"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
REPORT_TYPES = ("text", "voice", "image", "location", "link")
LEASE = timedelta(seconds=15)  # a leader that died mid-batch: its messages are due again after this
BATCH = 20
MAX_ATTEMPTS = 5
PRESSED = 1.0  # seconds after a store-first answer that the webhook counts as under pressure
YIELD = 0.2  # seconds the background pauses between stored messages while the webhook is busy


class Ticket:
    """One delivery's race against its reply budget, decided under a lock: either its handler
    thread begins to commit (and its own reply is sent), or the webhook takes the message over
    (and the handler rolls back). Nothing in between."""

    QUEUED, RUNNING, COMMITTING, TAKEN = "queued", "running", "committing", "taken"

    def __init__(self, budget: float | None, arrived: float | None = None):
        self.arrived = time.monotonic() if arrived is None else arrived
        self.budget = budget
        self.state = self.QUEUED
        self.handled = False  # the full path ran to its commit
        self._lock = threading.Lock()

    def remaining(self) -> float | None:
        return None if self.budget is None else max(0.0, self.arrived + self.budget - time.monotonic())

    def behind(self) -> bool:
        """Waited a third of the budget before any work began: the full path will not make it."""
        return self.budget is not None and time.monotonic() - self.arrived > self.budget / 3

    def _move(self, to: str, unless: str) -> str | None:
        with self._lock:
            was = self.state
            if was == unless:
                return None
            self.state = to
            return was

    def start(self) -> bool:
        """The handler thread begins; False when the webhook already took the message."""
        return self._move(self.RUNNING, unless=self.TAKEN) is not None

    def commit(self) -> bool:
        """The handler may commit and answer; False when the webhook already took the message."""
        return self._move(self.COMMITTING, unless=self.TAKEN) is not None

    def take(self) -> str | None:
        """The webhook takes the message over; returns the state it took it from, or None when the
        handler is already committing (its answer is a moment away)."""
        return self._move(self.TAKEN, unless=self.COMMITTING)


class Load:
    """This process's webhook load, as the store-first decision and the background need it: how
    long the full path has been taking (an exponentially weighted mean of its wall time, queue
    excluded), and how many messages wait for a handler thread (the limiter's statistics)."""

    def __init__(self) -> None:
        self.full_path = 0.05  # seconds; learnt from the first messages
        self.limiter = None  # the webhook's CapacityLimiter, once the app has started
        self.stored_at = -PRESSED  # when a message was last stored first

    def observe(self, seconds: float) -> None:
        self.full_path += 0.2 * (seconds - self.full_path)

    def waiting(self) -> int:
        return self.limiter.statistics().tasks_waiting if self.limiter is not None else 0

    def expected(self) -> float:
        """Seconds until a message arriving now would be answered by the full path."""
        if self.limiter is None:
            return 0.0
        stats = self.limiter.statistics()
        return (stats.tasks_waiting / max(1, stats.total_tokens) + 1) * self.full_path

    def stored_first(self) -> None:
        """A message was stored first because of the load (it waited, or would wait, for a thread);
        not one whose own handling ran too long (a slow classifier is no flood)."""
        self.stored_at = time.monotonic()

    def pressed(self) -> bool:
        """Messages were stored first a moment ago: the webhook is past what the full path can do,
        and every message is stored first until a second passes without one. Even one handler on
        the full path then takes the interpreter from the event loop, whose answers come first."""
        return time.monotonic() - self.stored_at < PRESSED

    def busy(self) -> bool:
        return self.waiting() > 0 or self.pressed()


def handle(session: Session, incoming: Incoming, store: Store, data: dict | None = None) -> str | None:
    """The routers' reply to one message, in the caller's unit of work (not committed here)."""
    ctx = Context(incoming=incoming, session=session, store=store, data=data or {})
    if incoming.text.strip():
        # Classified before the first write (touch_resident): a slow classification must not hold
        # the resident's row lock — their next message would wait behind it — nor, on SQLite, the
        # one writer's lock that a message being stored first waits for.
        ctx.classification  # noqa: B018 - cached on the context for the routers' filters
    if incoming.msg_type == "event" and incoming.event != "subscribe":
        return handlers.dispatch(ctx)
    # Every message touches its sender, at the first `resident()` call (a report's carries where
    # they report from: one statement) or after the routers.
    intake.touch_later(session, incoming.openid)
    reply = handlers.dispatch(ctx)
    intake.touch_if_due(session, incoming.openid)
    return reply


# ----------------------------------------------------------------------------- storing first


def reads_as_report(session: Session, store: Store, incoming: Incoming) -> bool:
    """Promise an event number only to what the routers will surely file as a report, decided
    without the classifier (which may be what is slow): a resident's message with content, not a
    short command or answer, and no conversation waiting for an answer."""
    if incoming.msg_type not in REPORT_TYPES:
        return False
    if incoming.msg_type in ("text", "voice", "link") and (
            len(CHINESE.findall(incoming.text)) < 8 or find_number(incoming.text)):
        return False  # short (an answer, a command) or about an existing event or order
    if roles.role_of(session, incoming.openid) != roles.RESIDENT:
        return False
    return store.get_dialog(incoming.openid) is None


def defer(incoming: Incoming, *, view: DeliveryStore | None = None) -> str | None:
    """Store the message and return the answer to send now ("已收到…"); the claim on its key is
    finished with that answer, so WeChat's retries get it too. `view`: the delivery as the handler
    thread claimed it; without one this call claims it (one round trip with the rate limit and the
    dialog), and returns None when a first attempt holds it."""
    store = get_store()
    if view is None:
        delivery = store.claim_counted(incoming.key, incoming.openid, get_settings().rate_limit_per_minute)
        if delivery is None:
            return None
        if delivery.limited:
            store.finish(incoming.key, RATE_LIMITED)  # a flood from one sender is not stored either
            return RATE_LIMITED
        view = DeliveryStore(store, incoming.openid, delivery)
    return store_one(incoming, view)


def store_one(incoming: Incoming, view: DeliveryStore) -> str:
    """The claimed message stored, its answer recorded and returned (`defer` past the claim)."""
    try:
        with session_factory()() as session:
            view.serve(session)
            number = next_number(session) if reads_as_report(session, view, incoming) else None
            inserted = insert_ignore(session, InboxMessage, **stored_row(incoming, number, utcnow()))
            if inserted is None:  # stored by an attempt that died before answering: keep its promise
                number = session.scalar(select(InboxMessage.number).where(InboxMessage.key == incoming.key))
            session.commit()
    except Exception:
        log.exception("storing %s first failed", incoming.key)
        view.store.release(incoming.key)
        return SORRY
    reply = acknowledgement(number)
    view.store.finish(incoming.key, reply)
    log.debug("webhook: %s stored first (%s)", incoming.key, number or "no number")  # a flood: no line each
    return reply


def stored_row(incoming: Incoming, number: str | None, now) -> dict:
    """The `inbox_message` row of a message stored first (alone here, or together: bot.wechat.together)."""
    return {"key": incoming.key, "openid": incoming.openid, "payload": dataclasses.asdict(incoming),
            "number": number, "status": "pending", "attempts": 0, "received_at": now}


def acknowledgement(number: str | None) -> str:
    """The answer to a message stored first: its promised number, if it reads as a report."""
    return ACK_REPORT.format(number=number) if number else ACK_MESSAGE


# ----------------------------------------------------------------------------- the background


def counts(session: Session) -> dict[str, int]:
    """Messages stored first, by status (pending / processing: still to be handled)."""
    rows = session.execute(select(InboxMessage.status, func.count()).group_by(InboxMessage.status))
    return {status: n for status, n in rows}


def _claim_due(session: Session, limit: int) -> list[int]:
    now = utcnow()
    due = or_(InboxMessage.status == "pending",
              (InboxMessage.status == "processing") & (InboxMessage.claimed_until < now))
    return lease(session, InboxMessage, due, order_by=(InboxMessage.id,), limit=limit,
                 values={"status": "processing", "claimed_until": now + LEASE, "attempts": InboxMessage.attempts + 1})


def process_due(factory: sessionmaker[Session], store: Store, budget: float = 10.0, load: Load | None = None) -> int:
    """Handle stored messages, oldest first, batch after batch for up to `budget` seconds;
    returns how many were handled. While messages wait for a handler thread (`load`), answering
    them comes first: one stored message every YIELD seconds, so none waits for ever."""
    started, handled = time.monotonic(), 0
    while time.monotonic() - started < budget:
        with factory() as session:
            ids = _claim_due(session, BATCH)
        for message_id in ids:
            handled += _process(factory, store, message_id)
            if load is not None and load.busy():
                time.sleep(YIELD)
        if len(ids) < BATCH:
            break
    return handled


def _process(factory: sessionmaker[Session], store: Store, message_id: int) -> int:
    with factory() as session:
        message = session.get(InboxMessage, message_id)
        if message is None or message.status != "processing":
            return 0
        incoming = Incoming(**message.payload)
        # Not a first delivery: the report looks its source_key up; dialog changes wait for the commit.
        view = DeliveryStore.claimed_elsewhere(store, incoming.openid)
        try:
            reply = handle(session, incoming, view, {"reserved_number": message.number})
            text = _outcome(session, message, reply)
            if text:
                outbox.enqueue(session, incoming.openid, text, dedup_key=f"inbox:{message.id}")
            message.status, message.done_at, message.claimed_until = "done", utcnow(), None
            session.commit()
            store.finish(None, "", dialogs=view.writes)
            return 1
        except Exception as exc:
            session.rollback()
            log.exception("stored message %s failed (attempt %d)", message_id, message.attempts)
            _failed(session, message, exc)
            return 0


def _outcome(session: Session, message: InboxMessage, reply: str | None) -> str | None:
    """What the resident is pushed: the routers' reply; a promised number that no report took is
    named, so the resident is not left looking for it."""
    if not message.number:
        return reply or None
    used = session.scalar(select(Event.id).where(Event.number == message.number)) is not None
    if used:
        return reply or None
    note = f"（编号{message.number}未使用：您的消息已按上面的方式处理。）"
    return f"{reply}\n{note}" if reply else f"您的消息已收到。{note}"


def _failed(session: Session, message: InboxMessage, exc: Exception) -> None:
    message = session.get(InboxMessage, message.id)
    message.last_error = repr(exc)[:500]
    if message.attempts >= MAX_ATTEMPTS:
        message.status, message.claimed_until = InboxMessage.FAILED, None
        # Every attempt rolled back its touch of the resident: without one, a resident who never
        # wrote before is "outside the 48-hour window" and the apology would wait for their next
        # message. They wrote moments ago (the window counts from then; now is off by the retries).
        intake.touch_resident(session, message.openid)
        # a key of its own: the outcome of a retry (inbox:{id}) is still pushed after this apology
        outbox.enqueue(session, message.openid, FAILED, dedup_key=f"inbox-failed:{message.id}")
    else:  # due again after a growing pause
        message.claimed_until = utcnow() + timedelta(seconds=2 ** message.attempts)
    session.commit()


def failed(session: Session, limit: int = 200) -> list[InboxMessage]:
    """Stored messages given up after MAX_ATTEMPTS, newest first: what a dispatcher looks at."""
    return list(session.scalars(select(InboxMessage).where(InboxMessage.status == InboxMessage.FAILED)
                                .order_by(InboxMessage.id.desc()).limit(limit)))


def retry(session: Session, ids: list[int] | None = None) -> int:
    """Failed stored messages (all, or those `ids`) due again with a fresh count of attempts;
    returns how many. A promised number is kept: the report, once handled, takes it, and its
    outcome is pushed to the resident. The caller commits."""
    query = update(InboxMessage).where(InboxMessage.status == InboxMessage.FAILED)
    if ids is not None:
        query = query.where(InboxMessage.id.in_(ids))
    result = session.execute(query.values(status="pending", attempts=0, claimed_until=None))
    return result.rowcount or 0


def drain(runtime) -> int:
    """The scheduler's job (bot.jobs): the leader handles what was stored first."""
    return process_due(runtime.sessions, runtime.store, budget=min(10.0, 5 * get_settings().reply_budget),
                       load=runtime.component(Load))
