"""Faults, with real service processes on loopback: Redis gone, kill -9, the database gone."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from bot.wechat.wechat_side import WeChatSide, message_xml
from tests.support.chat import NUMBER
from tests.support.procs import REDIS_HOST, REDIS_PORT, Service, TcpProxy, drop_database, flush_redis, scratch_database
from tests.support.service import TOKEN

pytestmark = pytest.mark.timeout(400)  # service processes start slowly on a loaded two-core machine
RUN = os.getpid()  # Redis db 9 may be shared with another test run on this machine: own OpenIDs


def numbers_in(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT number FROM event")).scalars())
    finally:
        engine.dispose()


def test_redis_stopped_mid_run_degrades_and_recovers(tmp_path):
    flush_redis(9)
    proxy = TcpProxy(REDIS_HOST, REDIS_PORT).start()
    service = Service(tmp_path, WEILINLI_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/9").start()
    side = WeChatSide(service.url, TOKEN, timeout=30)
    try:
        assert service.health()["store"] == "redis"
        first = side.text(f"o-redis-1-{RUN}", "东亭小区路灯不亮了")
        assert NUMBER.search(first.text)
        proxy.cut()
        during = side.text(f"o-redis-2-{RUN}", "翠柳小区垃圾没人收")
        assert during.status == 200 and NUMBER.search(during.text)
        assert service.health()["store"] == "redis-degraded"
        proxy.restore()
        deadline = time.monotonic() + 30  # the store retries the server every 5 s
        while service.health()["store"] != "redis" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert service.health()["store"] == "redis"
        after = side.text(f"o-redis-3-{RUN}", "中北路井盖丢了")
        assert NUMBER.search(after.text)
        assert "degraded mode" in service.log.read_text()
    finally:
        side.close()
        service.stop()
        proxy.close()
    assert len(numbers_in(f"sqlite:///{tmp_path / 'data' / 'weilinli.db'}")) == 3


class Flood:
    """`senders` residents reporting one after another (`openid` and `text` formatted with
    `sender` and the report's `i`), up to `per_sender` each or until stopped; the numbers they
    were given, and how many of those answers were stored first."""

    def __init__(self, service: Service, senders: int, openid: str, text: str, *, per_sender: int):
        self.service, self.openid, self.text, self.per_sender = service, openid, text, per_sender
        self.acknowledged: list[str] = []
        self.stored_first = 0
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(s,)) for s in range(senders)]
        for t in self._threads:
            t.start()

    def _send(self, sender: int) -> None:
        side = WeChatSide(self.service.url, TOKEN, timeout=5)
        for i in range(1, self.per_sender + 1):
            if self._stop.is_set():
                break
            try:
                reply = side.text(self.openid.format(sender=sender, i=i), self.text.format(i=i))
            except Exception:  # the process died mid-request: not acknowledged
                continue
            found = NUMBER.search(reply.text) if reply.status == 200 else None
            if found:
                with self._lock:
                    self.acknowledged.append(found.group(0))
                    self.stored_first += "稍后推送" in reply.text
        side.close()

    def killed_once(self, enough, *, within: float) -> list[str]:
        """kill -9 the service once `enough()` holds (or after `within` seconds), stop the senders;
        the numbers acknowledged before it died."""
        deadline = time.monotonic() + within
        while not enough() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.service.kill()
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.acknowledged


def test_kill_9_during_a_flood_loses_no_acknowledged_report(tmp_path):
    url = scratch_database("weilinli_fault_kill")
    service = Service(tmp_path, WEILINLI_DATABASE_URL=url)
    assert service.run("db", "upgrade").returncode == 0
    service.start()
    flood = Flood(service, 4, "o-flood-{sender}-{i}", "东亭小区{i}栋楼道灯坏了", per_sender=500)
    # kill mid-flood, once a good number of reports were acknowledged
    acknowledged = flood.killed_once(lambda: len(flood.acknowledged) >= 20, within=60)
    assert len(acknowledged) >= 10, "the flood should have been acknowledged before the kill"
    service.start()  # restart on the same database
    try:
        # A report answered store-first in the flood ("已收到，编号…，稍后推送") is completed by
        # the restarted service: wait for its backlog, then every acknowledged number is an event.
        stored = _wait_for_numbers(url, set(acknowledged))
    finally:
        service.stop()
        drop_database(url)
    assert set(acknowledged) <= stored
    assert len(acknowledged) == len(set(acknowledged))


def _wait_for_numbers(url: str, numbers: set[str], timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    stored = numbers_in(url)
    while not numbers <= stored and time.monotonic() < deadline:
        time.sleep(0.5)
        stored = numbers_in(url)
    return stored


SLOW_CLASSIFIER = """
import time
import nlp
_real = nlp.classify
def _slow(text, *args, **kwargs):
    time.sleep(3)
    return _real(text, *args, **kwargs)
nlp.classify = _slow
"""


def test_a_report_stored_first_survives_kill_9_and_is_completed_after_the_restart(tmp_path):
    """The classifier takes 3 s, the reply budget is 1 s: the answer is "已收到，编号…", the
    process is killed before the background finished; the restarted one completes the report."""
    url = scratch_database("weilinli_fault_first")
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_CLASSIFIER)  # imported by the child at start-up
    service = Service(tmp_path, WEILINLI_DATABASE_URL=url, WEILINLI_REPLY_BUDGET="1", PYTHONPATH=str(slow))
    assert service.run("db", "upgrade").returncode == 0
    service.start()
    side = WeChatSide(service.url, TOKEN, timeout=10)
    try:
        started = time.monotonic()
        reply = side.text(f"o-first-{RUN}", "东亭小区3栋楼道灯坏了，晚上看不见路", msg_id=77001)
        assert time.monotonic() - started < 2.5
        assert "稍后推送" in reply.text, reply.text
        number = NUMBER.search(reply.text).group(0)
        service.kill()
        assert number not in numbers_in(url)  # only stored: nothing of the report was handled yet
        service.start()
        assert number in _wait_for_numbers(url, {number})
        again = side.text(f"o-first-{RUN}", "东亭小区3栋楼道灯坏了，晚上看不见路", msg_id=77001)
        assert again.text == reply.text or NUMBER.search(again.text).group(0) == number  # a late retry
    finally:
        side.close()
        service.stop()
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM event")).scalar() == 1
            assert conn.execute(text("SELECT status FROM inbox_message")).scalars().all() == ["done"]
        engine.dispose()
    finally:
        drop_database(url)


SLOW_WHILE_FLAGGED = """
import os, time
import nlp
_real, _flag = nlp.classify, os.environ["TEST_SLOW_FLAG"]
def _slow(text, *args, **kwargs):
    if os.path.exists(_flag):
        time.sleep(0.5)
    return _real(text, *args, **kwargs)
nlp.classify = _slow
"""


def test_kill_9_while_a_flood_is_stored_first_together_loses_no_acknowledged_report(tmp_path):
    """A flood past what the full path can do (a 0.5 s classifier, 40 senders at once) is stored
    first, many messages per commit (bot.wechat.together); kill -9 in the middle of it. Every
    number a resident was given is an event once the restarted service has worked off the backlog,
    and none twice."""
    url = scratch_database("weilinli_fault_together")
    slow, flag = tmp_path / "slow", tmp_path / "slow-flag"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_WHILE_FLAGGED)
    flag.write_text("on")
    service = Service(tmp_path, WEILINLI_DATABASE_URL=url, WEILINLI_REPLY_BUDGET="1.5", PYTHONPATH=str(slow),
                      TEST_SLOW_FLAG=str(flag))
    assert service.run("db", "upgrade").returncode == 0
    service.start()
    flood = Flood(service, 40, f"o-together-{RUN}-{{sender}}-{{i}}", "东亭小区{i}栋停水了，一滴水都没有",
                  per_sender=200)
    acknowledged = flood.killed_once(lambda: flood.stored_first >= 100, within=90)
    assert flood.stored_first >= 100, f"not stored first: {flood.stored_first} of {len(acknowledged)}"
    flag.unlink()  # the restarted service classifies at full speed: the backlog is worked off
    service.start()
    try:
        stored = _wait_for_numbers(url, set(acknowledged), timeout=120)
    finally:
        service.stop()
        drop_database(url)
    assert set(acknowledged) <= stored, len(set(acknowledged) - stored)
    assert len(acknowledged) == len(set(acknowledged))


def test_database_down_gets_a_quick_apology_and_writes_nothing(tmp_path):
    url = scratch_database("weilinli_fault_db")
    proxy = TcpProxy("127.0.0.1", 5432).start()
    service = Service(tmp_path, WEILINLI_DATABASE_URL=url.replace(":5432/", f":{proxy.port}/"))
    assert service.run("db", "upgrade").returncode == 0
    service.start()
    side = WeChatSide(service.url, TOKEN)
    try:
        assert NUMBER.search(side.text("o-db-1", "东亭小区路灯不亮").text)
        proxy.cut()
        body = message_xml("o-db-2", "text", {"Content": "翠柳小区电梯困人", "MsgId": 424242})
        started = time.monotonic()
        reply = side.post_xml(body)
        assert time.monotonic() - started < 4.5  # inside WeChat's 5 seconds
        assert reply.status == 200 and "系统繁忙" in reply.text
        proxy.restore()
        time.sleep(0.5)
        retried = side.post_xml(body)  # WeChat's retry of the same message, now processed
        assert NUMBER.search(retried.text)
    finally:
        side.close()
        service.stop()
        proxy.close()
    try:
        assert len(numbers_in(url)) == 2
    finally:
        drop_database(url)


def test_a_pooled_connection_closed_while_it_rested_is_replaced_and_a_busy_one_is_not_pinged():
    """The pool pings only connections that rested (bot.core.db.ping_when_idle): a connection the
    server closed while it sat in the pool (a restart, an idle timeout) is replaced on checkout,
    without an error; one handed back a moment ago costs no round trip."""
    import psycopg

    from bot.core.db import ping_when_idle
    from tests.support.procs import PG_ADMIN

    url = scratch_database("weilinli_fault_ping")
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, after=0.3)
    pings = []
    real_ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda conn: pings.append(1) or real_ping(conn)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        for _ in range(5):  # busy: checked out again at once, never pinged
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        assert pings == []
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:  # the server closes it while it rests
            assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone()[0]
        time.sleep(0.5)
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first and pings == [1]
    finally:
        engine.dispose()
        drop_database(url)
