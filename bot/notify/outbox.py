"""The push outbox: pushes are rows written with the change that caused them, then drained.

The domain only enqueues; a transport (the WeChat adapter) supplies `send`. A message is claimed
with a lease before sending, so two drainers never send the same row, and a drainer that dies
before sending makes it due again once the lease runs out.

Statuses: pending → sending (claimed) → attempting (the request is about to leave; committed
first) → sent. A failure goes back to pending with a capped backoff (2 s doubling to 10 min), so a
WeChat outage of hours loses nothing; only a push still failing `outbox_dead_after_hours` after it
was queued becomes `dead`. A send that may have been accepted — WeChat took the request but no
answer came (a read timeout), or the process died mid-request (an `attempting` row whose lease ran
out) — becomes `unknown` and is not sent again by itself: WeChat has no way to ask whether a
customer-service message arrived, and a resident told twice is the failure the issue names.
Dead and unknown pushes are listed for the admin (GET /api/outbox) and re-queued by
`POST /api/outbox/requeue` or `weilinli outbox requeue`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, inspect, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.db import insert_ignore, lease, utcnow
from bot.domain.models import Event, OutboxMessage
from bot.domain.states import ride_along
from settings import get_settings

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)


class PushError(Exception):
    """A send failed. `retry` says whether to try again; `fallback` names another channel to try."""

    def __init__(self, message: str, *, retry: bool = True, fallback: str | None = None):
        super().__init__(message)
        self.retry = retry
        self.fallback = fallback


class MaybeSent(PushError):
    """The request reached WeChat but its answer did not come back: it may have been delivered."""

    def __init__(self, message: str):
        super().__init__(message, retry=False)


HELD = ("dead", "unknown")  # what waits for a person: given up, or perhaps delivered


def enqueue(
    session: Session,
    openid: str,
    text: str,
    *,
    event_id: int | None = None,
    dedup_key: str | None = None,
    channel: str = "customer_service",
    extra: dict | None = None,
    digest: tuple[str, str] | None = None,
    event: Event | None = None,
) -> int | None:
    """Queue a push in the caller's transaction; returns its id, or None when dedup_key was queued
    or the push rides with a new `event` (written with it: bot.domain.states.ride_along).
    `digest` (title, label): pushes of that title to one recipient that fall due together are sent
    as one message headed by their labels (see `_units`). `event`: what the push is about (its id,
    or the event itself while it is still to be written)."""
    now = utcnow()
    payload = {"text": text, **(extra or {})}
    if digest is not None:
        payload["digest"] = list(digest)
    values = {"openid": openid, "channel": channel, "payload": payload, "dedup_key": dedup_key, "status": "pending",
              "attempts": 0, "next_attempt_at": now, "created_at": now}
    if event is not None and inspect(event).transient:
        ride_along(event, OutboxMessage, "event_id", values)
        return None
    return insert_ignore(session, OutboxMessage, event_id=event.id if event is not None else event_id, **values)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, … capped at 10 minutes: a long outage is retried every 10 minutes, not given up."""
    return timedelta(seconds=min(2 ** min(attempts, 20), 600))


def _expired(msg: OutboxMessage, now: datetime) -> bool:
    return now - msg.created_at > timedelta(hours=get_settings().outbox_dead_after_hours)


BATCH = 50
DIGEST_MAX = 5  # pushes in one digest
TEXT_BYTES = 2048  # WeChat's limit on a text message, in UTF-8 bytes
YIELD = 0.2  # seconds a routine push waits after it is sent while the webhook is flooded
URGENT = "urgent:"  # the dedup_key prefix of an urgent alert's pushes (bot.events.urgent)
_URGENT_FIRST = case((OutboxMessage.dedup_key.startswith(URGENT), 0), else_=1)

DRAIN_BUDGET = 10.0  # seconds one drain may keep taking batches (the job runs every outbox_interval)


def is_urgent(msg: OutboxMessage) -> bool:
    return (msg.dedup_key or "").startswith(URGENT)


def claim_due(session: Session, now: datetime, limit: int = BATCH) -> list[int]:
    """Lease up to `limit` due messages in one compare-and-set UPDATE: only one drainer wins each."""
    _settle_interrupted(session, now)
    due = or_(
        OutboxMessage.status == "pending",
        (OutboxMessage.status == "sending") & (OutboxMessage.claimed_until < now),
    )
    return lease(session, OutboxMessage, due, where=(OutboxMessage.next_attempt_at <= now,),
                 order_by=(_URGENT_FIRST, OutboxMessage.id), limit=limit,
                 values={"status": "sending", "claimed_until": now + LEASE})


def _settle_interrupted(session: Session, now: datetime) -> None:
    """A row left `attempting` by a process that died mid-request may have reached WeChat: `unknown`."""
    session.execute(update(OutboxMessage)
                    .where(OutboxMessage.status == "attempting", OutboxMessage.claimed_until < now)
                    .values(status="unknown", claimed_until=None,
                            last_error="interrupted while sending: may have been delivered"))


def drain(factory: sessionmaker[Session], send: Callable[[OutboxMessage], None], now: datetime | None = None,
          pause: Callable[[], bool] | None = None) -> int:
    """Send every due message once, batch after batch while full batches keep coming (a flood of
    reports must not leave pushes one interval per 50 behind); returns how many were delivered.

    `send` may have a `prepare(session, messages)`, called once per batch before its sends, to look
    up in one query what each send would otherwise ask for on its own; and a `choose(message)`, the
    channel it would send on (raising PushError when none reaches the recipient now): a channel
    known in advance to fail is then not attempted, and the push takes its fallback at once.

    Urgent alerts go first. While `pause()` says the webhook is past what it can handle (a flood:
    residents' answers come first), each other push waits YIELD seconds after it is sent."""
    started, delivered = time.monotonic(), 0
    while True:
        claimed, sent = _drain_batch(factory, send, now or utcnow(), pause)
        delivered += sent
        if claimed < BATCH or time.monotonic() - started > DRAIN_BUDGET:
            return delivered


def _drain_batch(factory: sessionmaker[Session], send: Callable[[OutboxMessage], None],
                 now: datetime, pause: Callable[[], bool] | None = None) -> tuple[int, int]:
    with factory() as session:
        ids = claim_due(session, now)
    if not ids:
        return 0, 0
    delivered = 0
    with factory() as session:  # one session; each outcome committed before the next request leaves
        messages = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                   .order_by(_URGENT_FIRST, OutboxMessage.id)).all()
        session.expunge_all()  # plain values from here on: rows change by UPDATE statements, not flushes
        prepare = getattr(send, "prepare", None)
        if prepare is not None:  # what every send of the batch needs, in one query (the service window)
            prepare(session, messages)
        choose = getattr(send, "choose", None)
        outcome = None
        for unit in _units(messages):
            msg, sending = _lead(unit), [m.id for m in unit]
            sql = session.connection()  # Core statements on the session's connection: no ORM bookkeeping
            if outcome is not None:  # the previous outcome rides in this message's commit
                sql.execute(*outcome)
                outcome = None
            changes = {}
            if choose is not None:  # a channel known not to reach them now is skipped before the attempt
                try:
                    channel = choose(msg)
                except PushError as exc:  # no channel reaches them now: a try all the same, so the backoff grows
                    msg.attempts += 1
                    outcome = _set(sending, claimed_until=None, attempts=msg.attempts, **_failed(msg, now, exc))
                    continue
                if channel != msg.channel:
                    msg.channel = changes["channel"] = channel
            msg.status, msg.attempts = "attempting", msg.attempts + 1
            sql.execute(*_set(sending, status="attempting", attempts=msg.attempts, **changes))
            session.commit()  # recorded before the request leaves: a crash now is not a blind resend
            values = _send_one(send, msg, now)
            delivered += len(unit) if values["status"] == "sent" else 0
            outcome = _set(sending, claimed_until=None, **values)
            if pause is not None and not is_urgent(msg) and pause():
                time.sleep(YIELD)
        if outcome is not None:
            session.connection().execute(*outcome)
            session.commit()
    return len(ids), delivered


def _units(messages: list[OutboxMessage]) -> list[list[OutboxMessage]]:
    """The sends of a batch, in its order: each message alone, but pushes with the same digest
    title to one recipient on one channel go together, up to DIGEST_MAX and TEXT_BYTES. A flood
    of reports in one grid is then a few messages to its worker instead of dozens, and WeChat lets
    a follower's message open only five customer-service sends."""
    units: list[list[OutboxMessage]] = []
    open_units: dict[tuple, list[OutboxMessage]] = {}
    for msg in messages:
        digest = msg.payload.get("digest")
        if not digest or is_urgent(msg) or msg.payload.keys() - {"text", "digest"}:
            units.append([msg])
            continue
        key = (msg.openid, msg.channel, msg.attempts, digest[0])
        unit = open_units.get(key)
        if unit is not None and len(unit) < DIGEST_MAX and _fits([*unit, msg]):
            unit.append(msg)
        else:
            open_units[key] = [msg]
            units.append(open_units[key])
    return units


def _digest_text(unit: list[OutboxMessage]) -> str:
    title = unit[0].payload["digest"][0]
    labels = "、".join(m.payload["digest"][1] for m in unit)
    return f"【{title}】{len(unit)} 条：{labels}\n\n" + "\n\n".join(m.payload["text"] for m in unit)


def _fits(unit: list[OutboxMessage]) -> bool:
    return len(_digest_text(unit).encode()) <= TEXT_BYTES


def _lead(unit: list[OutboxMessage]) -> OutboxMessage:
    """What is sent for a unit: its one message, or a copy of the first (oldest: its age decides
    when the digest is given up) carrying the digest's text."""
    if len(unit) == 1:
        return unit[0]
    first = unit[0]
    return OutboxMessage(id=first.id, openid=first.openid, channel=first.channel, dedup_key=first.dedup_key,
                         payload={"text": _digest_text(unit)}, status=first.status, attempts=first.attempts,
                         created_at=first.created_at)


_BY_IDS = OutboxMessage.__table__.update().where(
    OutboxMessage.__table__.c.id.in_(bindparam("message_ids", expanding=True)))


def _set(message_ids: list[int], **values) -> tuple:
    """An UPDATE of the columns of one send's messages, as (statement, parameters): the statement
    is built once (two of these run for every send)."""
    return _BY_IDS, {"message_ids": message_ids, **values}


def _send_one(send: Callable[[OutboxMessage], None], msg: OutboxMessage, now: datetime) -> dict:
    """Send one message; the columns its outcome changes."""
    try:
        send(msg)
    except MaybeSent as exc:
        log.error("push %s to %s may have been delivered (%s): held, not resent", msg.id, msg.openid, exc)
        return {"status": "unknown", "last_error": str(exc)[:500]}
    except PushError as exc:
        return _failed(msg, now, exc)
    except Exception as exc:  # a bug or network error must not lose the message
        log.exception("push %s failed", msg.id)
        return _retry_or_give_up(msg, now, repr(exc)[:500], retry=True)
    return {"status": "sent", "sent_at": utcnow()}


def _failed(msg: OutboxMessage, now: datetime, exc: PushError) -> dict:
    error = str(exc)[:500]
    if exc.fallback and exc.fallback != msg.channel:
        return {"status": "pending", "channel": exc.fallback, "next_attempt_at": now, "last_error": error}
    return _retry_or_give_up(msg, now, error, retry=exc.retry)


def _retry_or_give_up(msg: OutboxMessage, now: datetime, error: str, *, retry: bool) -> dict:
    if retry and not _expired(msg, now):
        return {"status": "pending", "next_attempt_at": now + backoff(msg.attempts), "last_error": error}
    log.error("push %s to %s given up after %d attempts: %s", msg.id, msg.openid, msg.attempts, error)
    return {"status": "dead", "last_error": error}


# ----------------------------------------------------------------------------- dead letters


def held(session: Session, limit: int = 200) -> list[OutboxMessage]:
    """Dead and unknown pushes, newest first: what an admin looks at and may re-queue."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.status.in_(HELD))
                                .order_by(OutboxMessage.id.desc()).limit(limit)))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {status: n for status, n in rows}


def requeue(session: Session, ids: list[int] | None = None) -> int:
    """Put dead / unknown pushes (all, or those `ids`) back in the queue, due now, with a fresh
    horizon; returns how many. The caller commits."""
    now = utcnow()
    query = update(OutboxMessage).where(OutboxMessage.status.in_(HELD))
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    result = session.execute(query.values(status="pending", next_attempt_at=now, created_at=now,
                                          claimed_until=None, channel="customer_service"))
    return result.rowcount or 0
