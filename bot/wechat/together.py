"""Storing first, many messages at a time (a group commit): what keeps a flood answered in time.

Under a flood every message is stored first (bot.wechat.inbox). Stored one by one, each cost more
than the durable echo's whole request (a claim, a number, an INSERT, a commit, a reply recorded:
two Redis round trips and two statements), so past the echo's own rate the answers fell behind
WeChat's 5 seconds. Here the event loop collects the messages to store; one batch at a time goes to
an intake thread, which claims them all in one Redis round trip, numbers and inserts them in one
statement each and one commit, and records all the answers in one more round trip. What arrives
meanwhile waits for the next batch: the busier the webhook, the larger the batch, the cheaper each
message. Each answer still leaves only after its row is committed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from bot.core.db import insert_ignore_many, session_factory, utcnow
from bot.core.store import Delivery, DeliveryStore, get_store
from bot.domain.models import InboxMessage
from bot.domain.numbering import next_numbers
from bot.wechat import inbox
from handlers.router import Incoming
from handlers.texts import RATE_LIMITED
from settings import get_settings

log = logging.getLogger(__name__)
MAX_BATCH = 200


@dataclass
class _Waiting:
    incoming: Incoming
    claim: bool  # no handler thread claimed it: the batch claims it
    answer: asyncio.Future


class StoreFirst:
    """One app's messages waiting to be stored first (the app's state: one per event loop)."""

    def __init__(self, limiter: anyio.CapacityLimiter | None = None):
        self.limiter = limiter  # the intake's threads
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task | None = None

    async def store(self, incoming: Incoming, *, claim: bool) -> str | None:
        """The answer once the message is committed; None when a first attempt holds its claim."""
        waiting = _Waiting(incoming, claim, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await waiting.answer

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                messages = [(w.incoming, w.claim) for w in batch]
                try:
                    answers = await anyio.to_thread.run_sync(store_many, messages, limiter=self.limiter)
                except Exception:  # store_many answers for its own failures; this is a bug
                    log.exception("storing %d messages first failed", len(batch))
                    answers = [inbox.SORRY] * len(batch)
                for waiting, answer in zip(batch, answers, strict=True):
                    if not waiting.answer.done():  # its request may have been cancelled meanwhile
                        waiting.answer.set_result(answer)
        finally:
            self._draining = None


def store_many(messages: list[tuple[Incoming, bool]]) -> list[str | None]:
    """`inbox.defer` for many messages at once, answers in order. A batch that fails as a whole is
    stored again one message at a time, so one bad message costs only its own answer."""
    store = get_store()
    answers: list[str | None] = [None] * len(messages)
    views = _claimed(store, messages, answers)
    if not views:
        return answers
    try:
        numbers = _insert(views, messages)
    except (OperationalError, InterfaceError):  # the database, not a message: trying each would wait as long again
        log.exception("storing %d messages first failed: the database is unreachable", len(views))
        store.release_many([messages[i][0].key for i in views])  # WeChat's retries are handled afresh
        for i in views:
            answers[i] = inbox.SORRY
        return answers
    except Exception:
        log.exception("storing %d messages first together failed: one at a time", len(views))
        for i, view in views.items():
            answers[i] = inbox.store_one(messages[i][0], view)
        return answers
    for i, number in numbers.items():
        answers[i] = inbox.acknowledgement(number)
    store.finish_many({messages[i][0].key: answers[i] for i in numbers})
    return answers


def _claimed(store, messages: list[tuple[Incoming, bool]], answers: list) -> dict[int, DeliveryStore]:
    """Each message's delivery view, by position; the rate-limited are answered (and recorded) now,
    one a first attempt holds is left out (its answer stays None)."""
    to_claim = [i for i, (_, claim) in enumerate(messages) if claim]
    deliveries = store.claim_counted_many([(messages[i][0].key, messages[i][0].openid) for i in to_claim],
                                          get_settings().rate_limit_per_minute)
    views, limited = {}, {}
    for i, delivery in zip(to_claim, deliveries, strict=True):
        if delivery is not None and delivery.limited:  # a flood from one sender is not stored either
            answers[i] = limited[messages[i][0].key] = RATE_LIMITED
        elif delivery is not None:
            views[i] = DeliveryStore(store, messages[i][0].openid, delivery)
    claimed = [i for i, (_, claim) in enumerate(messages) if not claim]
    for i, dialog in zip(claimed, store.dialogs_of([messages[i][0].openid for i in claimed]), strict=True):
        views[i] = DeliveryStore(store, messages[i][0].openid, Delivery(False, dialog, prefetched=True))
    store.finish_many(limited)
    return views


def _insert(views: dict[int, DeliveryStore], messages: list[tuple[Incoming, bool]]) -> dict[int, str | None]:
    """The messages' rows in one INSERT and one commit; each message's promised number."""
    with session_factory()() as session:
        next(iter(views.values())).serve(session)  # the caches' tokens, read with the claims
        reports = [i for i, view in views.items() if inbox.reads_as_report(session, view, messages[i][0])]
        numbers: dict[int, str | None] = dict.fromkeys(views)
        numbers.update(zip(reports, next_numbers(session, len(reports)), strict=True))
        now = utcnow()
        rows = [inbox.stored_row(messages[i][0], numbers[i], now) for i in views]
        inserted = set(insert_ignore_many(session, InboxMessage, rows, InboxMessage.key))
        if len(inserted) < len(rows):  # stored by attempts that died before answering: keep their promise
            earlier = {i: messages[i][0].key for i in views if messages[i][0].key not in inserted}
            kept = dict(session.execute(select(InboxMessage.key, InboxMessage.number)
                                        .where(InboxMessage.key.in_(earlier.values()))).all())
            numbers.update({i: kept.get(key) for i, key in earlier.items()})
        session.commit()
    return numbers
