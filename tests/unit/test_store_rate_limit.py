"""Rate limits count a sliding window: a burst that straddles the turn of a minute is still limited."""

from __future__ import annotations

import fakeredis
import pytest

from bot.core import store as store_module
from bot.core.store import Store


@pytest.fixture
def clock(monkeypatch):
    now = [1_800_000_000.0 - 0.5]  # half a second before a minute turns

    monkeypatch.setattr(store_module.time, "time", lambda: now[0])
    return now


def test_a_burst_across_the_minute_is_still_limited(clock):
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer()), embedded=True)
    allowed = [not store.hit_rate_limit("o-burst", 3) for _ in range(3)]
    clock[0] += 1.0  # the next minute has begun
    allowed += [not store.hit_rate_limit("o-burst", 3) for _ in range(2)]
    assert allowed == [True, True, True, False, False]


def test_the_window_slides_open_again(clock):
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer()), embedded=True)
    for _ in range(3):
        store.hit_rate_limit("o-later", 3)
    assert store.hit_rate_limit("o-later", 3, count=False)  # looking does not count
    clock[0] += 61  # a whole window later the earlier hits have slid out
    assert not store.hit_rate_limit("o-later", 3)


def test_a_look_just_after_the_turn_sees_the_limit_reached(clock):
    """The login check looks before it counts: four failures a second ago must still refuse the
    fifth, however the window's fraction rounds (4 × 0.98 was 3.92 < 4: one more try slipped by)."""
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer()), embedded=True)
    for _ in range(4):
        store.hit_rate_limit("login-addr:127.0.0.1", 4, window=600)
    clock[0] += 1.0  # the ten-minute window has just turned
    assert store.hit_rate_limit("login-addr:127.0.0.1", 4, window=600, count=False)
