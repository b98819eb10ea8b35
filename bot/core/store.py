"""Short-lived shared state in Redis: dialog state, retry de-duplication, rate limits, locks, caches.

With no WEILINLI_REDIS_URL the same code runs on fakeredis, an in-process Redis implementation,
so the embedded default behaves like production (but only within one process).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from bot.core.runtime import current
from settings import get_settings

log = logging.getLogger(__name__)

PENDING = "\x00pending"
CLAIM_LEASE = 30  # seconds a pending claim can outlive a stuck owner (a dead one is noticed sooner)
ALIVE_TTL, HEARTBEAT = 3, 1.0  # a process's liveness key, refreshed every HEARTBEAT seconds
RATE_WINDOW = 60  # seconds: the per-user message rate limit's window
# Revision tokens of the per-process caches every message consults (grid tree, roles): a delivery
# reads them with its claim, in the same round trip, and the caches check them through its session.
READ_AHEAD: list[str] = []
AHEAD_INFO = "wl:read-ahead"  # the session.info key holding a delivery's read-ahead values


def read_ahead(key: str) -> str:
    """Register `key` to be read with every delivery's claim; returns it."""
    if key not in READ_AHEAD:
        READ_AHEAD.append(key)
    return key


def shared_value(session, key: str) -> bytes | None:
    """`key` as read with the claim of the delivery `session` serves, else from the store now."""
    ahead = session.info.get(AHEAD_INFO)
    if ahead is not None and key in ahead:
        return ahead[key]
    return get_store().r.get(key)


def sliding_estimate(hits: int, earlier: int, now: float, window: int) -> int:
    """This window's hits plus the previous window's, weighted by how much of it still lies within
    the last `window` seconds. The share rounds up: a hit the window still partly covers counts
    whole, so just after the turn a look still sees the limit the last window reached."""
    return hits + math.ceil(earlier * (1 - (now % window) / window))


class Claim:
    """What a retry finds under a delivery's key."""

    RUNNING, DONE, ORPHANED = "running", "done", "orphaned"


@dataclass
class Delivery:
    """A claimed delivery: whether its sender is over the rate limit, and their dialog when it was
    read with the claim (`prefetched`)."""

    limited: bool
    dialog: dict[str, Any] | None
    prefetched: bool
    ahead: dict[str, bytes | None] = field(default_factory=dict)  # READ_AHEAD keys, read with the claim
    fresh: bool = False  # claimed on the shared server at the first try: no earlier delivery got this far


class Store:
    def __init__(self, client: redis.Redis, *, embedded: bool):
        self.r = client
        self.embedded = embedded
        # Who makes this process's claims: a pending claim names its owner, and the owner's liveness
        # key (refreshed by a heartbeat thread) says whether it can still finish. After kill -9 the
        # key lapses within ALIVE_TTL seconds and WeChat's next retry processes the message itself.
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        if not embedded:
            self._beat()
            self._heartbeat = threading.Thread(target=self._beating, name="wl-store-heartbeat", daemon=True)
            self._heartbeat.start()

    def _beat(self) -> None:
        try:
            self.r.set(f"wl:alive:{self.owner}", "1", ex=ALIVE_TTL)
        except redis.RedisError:
            log.warning("store: heartbeat failed", exc_info=True)

    def _beating(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            self._beat()

    first_delivery = False  # nothing known about earlier deliveries (see DeliveryStore)

    def serve(self, session) -> None:
        """Nothing was read ahead: caches ask the store themselves (see DeliveryStore.serve)."""

    def alive(self, owner: str) -> bool:
        return owner == self.owner or bool(self.r.exists(f"wl:alive:{owner}"))

    @property
    def degraded(self) -> bool:
        return bool(getattr(self.r, "degraded", False))

    # -- dialog state (aiogram-FSM-like: one JSON blob per user, with a TTL) --
    def get_dialog(self, openid: str) -> dict[str, Any] | None:
        raw = self.r.get(f"wl:dialog:{openid}")
        return json.loads(raw) if raw else None

    def set_dialog(self, openid: str, state: dict[str, Any], ttl: int | None = None) -> None:
        self.r.set(f"wl:dialog:{openid}", *_dialog_value(state, ttl))

    def clear_dialog(self, openid: str) -> None:
        self.r.delete(f"wl:dialog:{openid}")

    # -- WeChat retry de-duplication --
    def claim(self, key: str, lease: int = CLAIM_LEASE) -> bool:
        """True for the first delivery of `key`, and for a retry whose first attempt's process died
        (its claim is taken over); False while the first attempt runs or after it answered."""
        name, mine = f"wl:msg:{key}", f"{PENDING}:{self.owner}"
        if self.r.set(name, mine, nx=True, ex=lease):
            return True
        value = self.r.get(name)
        if value is None:  # the lease just ran out
            return bool(self.r.set(name, mine, nx=True, ex=lease))
        owner = _pending_owner(value.decode())
        if owner is None or self.alive(owner):
            return False
        return self._take_over(name, value, mine, lease)

    def _take_over(self, name: str, seen: bytes, mine: str, lease: int) -> bool:
        """Compare-and-set: replace the dead owner's claim only if no other retry replaced it first."""
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(name)
                if pipe.get(name) != seen:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(name, mine, ex=lease)
                pipe.execute()
            except redis.WatchError:
                return False
        log.warning("store: took over %s from a dead process", name)
        return True

    def claim_counted(self, key: str, scope: str, limit: int, lease: int = CLAIM_LEASE) -> Delivery | None:
        """`claim(key)`, then `hit_rate_limit(scope, limit)` and the dialog of `scope` read ahead,
        in one round trip for a first delivery; None when `claim` would be False. A retry that
        finds a claim has its count taken back and goes the way of `claim` (take-over included)."""
        return self.claim_counted_many([(key, scope)], limit, lease)[0]

    def claim_counted_many(self, deliveries: list[tuple[str, str]], limit: int,
                           lease: int = CLAIM_LEASE) -> list[Delivery | None]:
        """`claim_counted` for each (key, scope), all in one round trip (messages stored first
        together); the caches' revision tokens are read once for all of them."""
        now = time.time()
        bucket = int(now // RATE_WINDOW)
        ahead = list(READ_AHEAD)

        def build(pipe) -> None:
            for key, scope in deliveries:
                pipe.set(f"wl:msg:{key}", f"{PENDING}:{self.owner}", nx=True, ex=lease)
                pipe.incr(f"wl:rate:{scope}:{bucket}")
                pipe.expire(f"wl:rate:{scope}:{bucket}", RATE_WINDOW * 2)
                pipe.get(f"wl:rate:{scope}:{bucket - 1}")
                pipe.get(f"wl:dialog:{scope}")
            for shared in ahead:
                pipe.get(shared)

        results = self._pipeline(build)
        shared = dict(zip(ahead, results[len(results) - len(ahead):], strict=True))
        found = []
        for i, (key, scope) in enumerate(deliveries):
            claimed, hits, _, earlier, dialog = results[5 * i:5 * i + 5]
            if not claimed:
                self.r.decr(f"wl:rate:{scope}:{bucket}")  # not processed here: not a hit
                found.append(Delivery(self.hit_rate_limit(scope, limit), None, prefetched=False)
                             if self.claim(key, lease) else None)
                continue
            limited = sliding_estimate(hits, int(earlier or 0), now, RATE_WINDOW) > limit
            found.append(Delivery(limited, json.loads(dialog) if dialog else None, prefetched=True,
                                  ahead=shared, fresh=not self.degraded))
        return found

    def dialogs_of(self, openids: list[str]) -> list[dict[str, Any] | None]:
        """Each sender's dialog, in one round trip."""
        if not openids:
            return []
        raws = self.r.mget([f"wl:dialog:{openid}" for openid in openids])
        return [json.loads(raw) if raw else None for raw in raws]

    def finish_many(self, replies: dict[str, str], ttl: int = 600) -> None:
        """`finish(key, reply)` for each, in one round trip."""
        def build(pipe) -> None:
            for key, reply in replies.items():
                pipe.set(f"wl:msg:{key}", reply, ex=ttl)

        if replies:
            self._pipeline(build)

    def release_many(self, keys: list[str]) -> None:
        if keys:
            self.r.delete(*(f"wl:msg:{key}" for key in keys))

    def finish(self, key: str | None, reply: str, ttl: int = 600,
               dialogs: dict[str, tuple[str, int] | None] | None = None) -> None:
        """Record the reply; `dialogs` (openid → (state as JSON, ttl), or None to clear) are written
        with it, all or none (MULTI). With no `key`, only the dialogs (a message handled in the
        background, whose reply was recorded when it was stored first)."""
        if not dialogs:
            if key is not None:
                self.r.set(f"wl:msg:{key}", reply, ex=ttl)
            return

        def build(pipe) -> None:
            for openid, write in dialogs.items():
                if write is None:
                    pipe.delete(f"wl:dialog:{openid}")
                else:
                    pipe.set(f"wl:dialog:{openid}", write[0], ex=write[1])
            if key is not None:
                pipe.set(f"wl:msg:{key}", reply, ex=ttl)

        self._pipeline(build, transaction=True)

    def _pipeline(self, build: Callable[[Any], None], transaction: bool = False) -> list:
        """Commands queued by `build(pipe)` in one round trip, through the failover when there is one
        (a pipeline taken from the client directly would bypass it)."""
        if isinstance(self.r, FailoverRedis):
            return self.r.run_pipeline(build, transaction=transaction)
        with self.r.pipeline(transaction=transaction) as pipe:
            build(pipe)
            return pipe.execute()

    def release(self, key: str) -> None:
        """Processing failed: let WeChat's next retry try again."""
        self.r.delete(f"wl:msg:{key}")

    def first_answer(self, key: str) -> tuple[str, str | None]:
        """(Claim.RUNNING / DONE / ORPHANED, the first attempt's reply once DONE). A claim whose
        owner died, or that lapsed unanswered, is ORPHANED: the retry should process the message."""
        value = self.r.get(f"wl:msg:{key}")
        if value is None:
            return Claim.ORPHANED, None
        text = value.decode()
        owner = _pending_owner(text)
        if owner is None:
            return Claim.DONE, text
        return (Claim.RUNNING if self.alive(owner) else Claim.ORPHANED), None

    # -- replay protection: a signed (timestamp, nonce) may only ever carry one body --
    def same_body_for_nonce(self, nonce_key: str, body_digest: str, ttl: int) -> bool:
        key = f"wl:nonce:{nonce_key}"
        if self.r.set(key, body_digest, nx=True, ex=ttl):
            return True
        seen = self.r.get(key)
        return seen is None or seen.decode() == body_digest

    # -- rate limit: fixed one-minute window per OpenID --
    def hit_rate_limit(self, scope: str, limit: int, window: int = RATE_WINDOW, count: bool = True) -> bool:
        """Count one hit (or, with count=False, only look) and say whether the limit is passed.

        A sliding window: this window's hits plus the previous window's, weighted by how much of it
        still lies within the last `window` seconds — so a burst across the turn of a minute is
        limited like any other, at the cost of one more read."""
        now = time.time()
        bucket = int(now // window)
        key = f"wl:rate:{scope}:{bucket}"
        if count:
            hits = self.r.incr(key)
            if hits == 1:
                self.r.expire(key, window * 2)
        else:
            hits = int(self.r.get(key) or 0)
        earlier = int(self.r.get(f"wl:rate:{scope}:{bucket - 1}") or 0)
        estimate = sliding_estimate(hits, earlier, now, window)
        return estimate > limit if count else estimate >= limit

    # -- locks (scheduler leader, token refresh) --
    def acquire_lock(self, name: str, ttl: int, owner: str | None = None) -> str | None:
        owner = owner or uuid.uuid4().hex
        if self.r.set(f"wl:lock:{name}", owner, nx=True, ex=ttl):
            return owner
        holder = self.r.get(f"wl:lock:{name}")
        if holder is not None and holder.decode() == owner:
            self.r.expire(f"wl:lock:{name}", ttl)
            return owner
        return None

    def release_lock(self, name: str, owner: str) -> None:
        holder = self.r.get(f"wl:lock:{name}")
        if holder is not None and holder.decode() == owner:
            self.r.delete(f"wl:lock:{name}")

    def close(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=2)
            try:
                self.r.delete(f"wl:alive:{self.owner}")
            except redis.RedisError:
                pass
        self.r.close()


def _dialog_value(state: dict[str, Any], ttl: int | None) -> tuple[str, int]:
    return json.dumps(state, ensure_ascii=False), ttl or get_settings().dialog_ttl


class DeliveryStore:
    """One delivery's view of the store: the dialog read with its claim, and dialog writes held
    until the reply is recorded — `store.finish(key, reply, dialogs=view.writes)` writes both in one
    round trip, and a delivery that fails leaves no dialog behind. Anything else goes to the store."""

    def __init__(self, store: Store, openid: str, delivery: Delivery):
        self.store = store
        self.writes: dict[str, tuple[str, int] | None] = {}
        self._read = {openid: delivery.dialog} if delivery.prefetched else {}
        self.ahead = delivery.ahead
        # A fresh claim means no earlier delivery of this message got as far as the database, so a
        # report need not look its source_key up (an orphaned or degraded claim is not fresh).
        self.first_delivery = delivery.fresh

    @classmethod
    def claimed_elsewhere(cls, store: Store, openid: str) -> DeliveryStore:
        """A view of a delivery whose claim was not read here (the handler thread that was overtaken
        took it, or it was stored first): nothing read ahead, and not a first delivery."""
        return cls(store, openid, Delivery(limited=False, dialog=None, prefetched=False))

    def distrust(self) -> None:
        """The database knew the message after all (Redis lost the claim): handle it again, looking up."""
        self.first_delivery = False
        self.writes.clear()

    def serve(self, session) -> None:
        """`session` works for this delivery: caches check the tokens read with its claim."""
        session.info[AHEAD_INFO] = self.ahead

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def get_dialog(self, openid: str) -> dict[str, Any] | None:
        if openid in self.writes:
            write = self.writes[openid]
            return None if write is None else json.loads(write[0])
        if openid in self._read:
            return self._read[openid]
        return self.store.get_dialog(openid)

    def set_dialog(self, openid: str, state: dict[str, Any], ttl: int | None = None) -> None:
        self.writes[openid] = _dialog_value(state, ttl)

    def clear_dialog(self, openid: str) -> None:
        self.writes[openid] = None


def _pending_owner(value: str) -> str | None:
    """The owner named by a pending claim ("" for an old-style claim without one); None for a reply."""
    if not value.startswith(PENDING):
        return None
    return value[len(PENDING) + 1:]


class FailoverRedis:
    """Redis with an in-process fallback: while the server is unreachable, calls go to fakeredis
    (degraded mode, logged) so reports are still accepted; the server is retried every few seconds.
    The database's unique keys still stop duplicates that the fallback cannot see."""

    RETRY_AFTER = 5.0

    def __init__(self, primary: redis.Redis, fallback):
        self.primary, self.fallback = primary, fallback
        self.degraded = False
        self._retry_at = 0.0

    def __getattr__(self, name: str):
        def call(*args, **kwargs):
            return self._run(lambda client: getattr(client, name)(*args, **kwargs))

        return call

    def run_pipeline(self, build: Callable[[Any], None], *, transaction: bool = False) -> list:
        """A pipeline (`build(pipe)` queues its commands) with the same failover as single calls."""

        def execute(client) -> list:
            with client.pipeline(transaction=transaction) as pipe:
                build(pipe)
                return pipe.execute()

        return self._run(execute)

    def _run(self, fn: Callable[[Any], Any]):
        if time.monotonic() >= self._retry_at:
            try:
                result = fn(self.primary)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if not self.degraded:
                    log.error("store: Redis unreachable (%s): degraded mode, using the in-process store", exc)
                self.degraded = True
                self._retry_at = time.monotonic() + self.RETRY_AFTER
            else:
                if self.degraded:
                    log.warning("store: Redis is back, leaving degraded mode")
                    self.degraded = False
                return result
        return fn(self.fallback)


def build_store() -> Store:
    """A new store for the configured Redis, or the embedded one (the runtime owns it)."""
    url = get_settings().redis_url
    import fakeredis

    local = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    if url:
        primary = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=0.5)
        log.info("store: Redis at %s", url)
        return Store(FailoverRedis(primary, local), embedded=False)
    log.warning("store: no WEILINLI_REDIS_URL, using the embedded in-process store (single process only)")
    return Store(local, embedded=True)


def get_store() -> Store:
    """The current runtime's store."""
    return current().store
