"""Issue 18: the webhook's claim, rate-limit count and dialog read go in one round trip, the reply
and the new dialog in another — with the same failover as single calls and the same claim rules."""

from __future__ import annotations

import socket

import fakeredis
import redis

from bot.core.store import PENDING, DeliveryStore, FailoverRedis, Store


def embedded() -> Store:
    return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer()), embedded=True)


def test_only_first_deliveries_count_towards_the_rate_limit():
    store = embedded()
    first = store.claim_counted("m1", "o-count", 2)
    assert first is not None and not first.limited and first.prefetched
    assert store.claim_counted("m1", "o-count", 2) is None  # a retry while the first runs
    assert store.claim_counted("m1", "o-count", 2) is None
    assert not store.claim_counted("m2", "o-count", 2).limited  # the retries were not counted
    assert store.claim_counted("m3", "o-count", 2).limited


def test_the_dialog_is_read_with_the_claim_and_written_with_the_reply():
    store = embedded()
    store.set_dialog("o-dialog", {"state": "Flow:place", "number": "WL20261202-0001"})
    delivery = store.claim_counted("m1", "o-dialog", 10)
    assert delivery.dialog == {"state": "Flow:place", "number": "WL20261202-0001"}
    view = DeliveryStore(store, "o-dialog", delivery)
    view.clear_dialog("o-dialog")
    assert view.get_dialog("o-dialog") is None  # read back before it is written
    view.set_dialog("o-dialog", {"state": "Flow:photo"}, ttl=120)
    assert view.get_dialog("o-dialog") == {"state": "Flow:photo"}
    assert store.get_dialog("o-dialog")["state"] == "Flow:place"  # nothing written yet
    store.finish("m1", "已受理", dialogs=view.writes)
    assert store.get_dialog("o-dialog") == {"state": "Flow:photo"}
    assert 0 < store.r.ttl("wl:dialog:o-dialog") <= 120
    assert store.first_answer("m1") == ("done", "已受理")


def test_a_claim_left_by_a_dead_process_is_taken_over_and_counted():
    store = embedded()
    store.r.set("wl:msg:m-orphan", f"{PENDING}:dead-owner", ex=30)  # its owner's liveness key is gone
    taken = store.claim_counted("m-orphan", "o-orphan", 1)
    assert taken is not None and not taken.limited and not taken.prefetched
    assert store.r.get("wl:msg:m-orphan").decode() == f"{PENDING}:{store.owner}"
    assert store.claim_counted("m-next", "o-orphan", 1).limited  # the take-over was counted once


def test_pipelines_fail_over_to_the_in_process_store_like_single_calls():
    with socket.socket() as s:  # a port nobody listens on: a real client, a real refused connection
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    primary = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2, socket_timeout=0.2)
    fallback = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    store = Store(FailoverRedis(primary, fallback), embedded=True)
    delivery = store.claim_counted("m1", "o-down", 5)
    assert delivery is not None and store.degraded
    view = DeliveryStore(store, "o-down", delivery)
    view.set_dialog("o-down", {"state": "Flow:place"})
    store.finish("m1", "已受理", dialogs=view.writes)
    assert fallback.get("wl:msg:m1") == "已受理".encode()
    assert fallback.get("wl:dialog:o-down") is not None
    assert store.claim_counted("m1", "o-down", 5) is None  # the fallback remembers the delivery


def test_cache_revisions_are_read_with_the_claim_and_handed_to_the_session():
    from sqlalchemy.orm import Session

    from bot.core import store as store_module

    store = embedded()
    key = store_module.read_ahead("wl:test:revision")
    try:
        store.r.set(key, "rev-1")
        delivery = store.claim_counted("m1", "o-ahead", 10)
        assert delivery.ahead[key] == b"rev-1"
        session = Session()
        DeliveryStore(store, "o-ahead", delivery).serve(session)
        store.r.set(key, "rev-2")  # changed after the claim: this delivery keeps what it read
        assert store_module.shared_value(session, key) == b"rev-1"
    finally:
        store_module.READ_AHEAD.remove(key)
