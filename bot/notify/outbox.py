"""The push outbox: pushes are rows written with the change that caused them, then drained.

The domain only enqueues; a transport (the WeChat adapter) supplies `send`. A message is claimed
with a lease before sending, so two drainers never send the same row, and a crash mid-send makes
it due again once the lease runs out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.db import insert_ignore, utcnow
from bot.domain.models import OutboxMessage
from settings import get_settings

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)


class PushError(Exception):
    """A send failed. `retry` says whether to try again; `fallback` names another channel to try."""

    def __init__(self, message: str, *, retry: bool = True, fallback: str | None = None):
        super().__init__(message)
        self.retry = retry
        self.fallback = fallback


def enqueue(
    session: Session,
    openid: str,
    text: str,
    *,
    event_id: int | None = None,
    dedup_key: str | None = None,
    channel: str = "customer_service",
    extra: dict | None = None,
) -> int | None:
    """Queue a push in the caller's transaction; returns its id, or None when dedup_key was queued."""
    now = utcnow()
    return insert_ignore(
        session, OutboxMessage, openid=openid, channel=channel, payload={"text": text, **(extra or {})},
        dedup_key=dedup_key, event_id=event_id, status="pending", attempts=0, next_attempt_at=now,
        created_at=now,
    )


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 600))


BATCH = 50
DRAIN_BUDGET = 10.0  # seconds one drain may keep taking batches (the job runs every outbox_interval)


def claim_due(session: Session, now: datetime, limit: int = BATCH) -> list[int]:
    """Lease up to `limit` due messages in one compare-and-set UPDATE: only one drainer wins each."""
    due = or_(
        OutboxMessage.status == "pending",
        (OutboxMessage.status == "sending") & (OutboxMessage.claimed_until < now),
    )
    candidates = select(OutboxMessage.id).where(OutboxMessage.next_attempt_at <= now, due) \
        .order_by(OutboxMessage.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # A CTE runs once (an IN (subquery) may be re-run and lease more than `limit`); SKIP LOCKED
        # lets two drainers take different rows instead of queueing behind each other.
        picked = candidates.with_for_update(skip_locked=True).cte("picked")
        chosen = OutboxMessage.id == picked.c.id
    else:
        chosen = OutboxMessage.id.in_(candidates.scalar_subquery())
    claimed = session.scalars(
        update(OutboxMessage).where(chosen, due)
        .values(status="sending", claimed_until=now + LEASE)
        .returning(OutboxMessage.id)
    ).all()
    session.commit()
    return sorted(claimed)


def drain(factory: sessionmaker[Session], send: Callable[[OutboxMessage], None], now: datetime | None = None) -> int:
    """Send every due message once, batch after batch while full batches keep coming (a flood of
    reports must not leave pushes one interval per 50 behind); returns how many were delivered."""
    started, delivered = time.monotonic(), 0
    while True:
        claimed, sent = _drain_batch(factory, send, now or utcnow())
        delivered += sent
        if claimed < BATCH or time.monotonic() - started > DRAIN_BUDGET:
            return delivered


def _drain_batch(factory: sessionmaker[Session], send: Callable[[OutboxMessage], None],
                 now: datetime) -> tuple[int, int]:
    max_attempts = get_settings().outbox_max_attempts
    with factory() as session:
        ids = claim_due(session, now)
    if not ids:
        return 0, 0
    delivered = 0
    with factory() as session:  # one session; each outcome committed as soon as it is known
        claimed = select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        for msg in session.scalars(claimed).all():
            try:
                send(msg)
            except PushError as exc:
                msg.attempts += 1
                msg.last_error = str(exc)[:500]
                if exc.fallback and exc.fallback != msg.channel:
                    msg.channel = exc.fallback
                    msg.status, msg.next_attempt_at = "pending", utcnow()
                elif exc.retry and msg.attempts < max_attempts:
                    msg.status, msg.next_attempt_at = "pending", utcnow() + backoff(msg.attempts)
                else:
                    msg.status = "dead"
                    log.error("push %s to %s given up: %s", msg.id, msg.openid, exc)
            except Exception as exc:  # a bug or network error must not lose the message
                log.exception("push %s failed", msg.id)
                msg.attempts += 1
                msg.last_error = repr(exc)[:500]
                msg.status = "pending" if msg.attempts < max_attempts else "dead"
                msg.next_attempt_at = utcnow() + backoff(msg.attempts)
            else:
                msg.status, msg.sent_at = "sent", utcnow()
                delivered += 1
            msg.claimed_until = None
            session.commit()
    return len(ids), delivered
