"""Issue 16, point 4 and the login limit's addresses, on real `weilinli serve` processes with
PostgreSQL and Redis: a report in flight at kill -9 is processed by WeChat's retry after the restart
(once), and `X-Forwarded-For` from an untrusted client does not spread the login limit."""

from __future__ import annotations

import os
import secrets
import time

import httpx
import psycopg
import pytest
import redis

from bot.wechat.wechat_side import WeChatSide, message_xml
from tests.support.chat import NUMBER
from tests.support.procs import Service, drop_database, scratch_database
from tests.support.service import TOKEN

pytestmark = pytest.mark.timeout(400)  # service processes start slowly on a loaded two-core machine
# The suite's Redis when it has one (keys here are unique to this run), else a db no suite flushes.
REDIS_URL = os.environ.get("WEILINLI_REDIS_URL") or "redis://127.0.0.1:6379/12"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _events(url: str, source_key: str) -> int:
    with psycopg.connect(_libpq(url)) as conn:
        return conn.execute("SELECT count(*) FROM event WHERE source_key = %s", (source_key,)).fetchone()[0]


def test_a_report_in_flight_at_kill_9_is_processed_by_the_retry_after_restart(tmp_path):
    url = scratch_database("weilinli_abuse_claim")
    # The longest reply budget, so the first attempt is still in flight when WeChat (2 s here) gives
    # up and the process dies; with the default budget it would have been answered store-first
    # (tests/system/test_faults.py shows that case surviving kill -9).
    service = Service(tmp_path, WEILINLI_DATABASE_URL=url, WEILINLI_REDIS_URL=REDIS_URL,
                      WEILINLI_REPLY_BUDGET="4.5")
    assert service.run("db", "upgrade").returncode == 0
    service.start()
    side = WeChatSide(service.url, TOKEN, timeout=10)
    impatient = WeChatSide(service.url, TOKEN, timeout=2)
    openid, msg_id = f"o-inflight-{secrets.token_hex(4)}", int(time.time() * 1000) % 10**12
    body = message_xml(openid, "text", {"Content": "东亭小区3栋楼道灯坏了", "MsgId": msg_id})
    key = f"msg:{openid}:{msg_id}"
    store = redis.Redis.from_url(REDIS_URL)
    try:
        assert NUMBER.search(side.text(f"o-warm-{secrets.token_hex(3)}", "翠柳小区路灯不亮").text)
        with psycopg.connect(_libpq(url)) as holder:  # hold the event table: the report stops mid-way
            holder.execute("LOCK TABLE event IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(httpx.TimeoutException):
                impatient.post_xml(body)  # WeChat gives up on the first attempt
            claim = store.get(f"wl:msg:{key}")
            assert claim is not None and claim.startswith(b"\x00pending:")  # in flight, with its owner
            service.kill()  # kill -9 while the report is in flight
            holder.rollback()
        assert _events(url, key) == 0
        service.start()  # the same database and Redis; the dead process's claim is still there
        started = time.monotonic()
        retry = side.post_xml(body)  # WeChat's retry of the same MsgId
        print(f"retry after restart answered in {time.monotonic() - started:.2f} s: {retry.text[:40]}")
        assert retry.status == 200 and NUMBER.search(retry.text), retry.body
        assert _events(url, key) == 1
        again = side.post_xml(body)  # a later retry gets the same answer, and nothing twice
        assert again.text == retry.text and _events(url, key) == 1
    finally:
        side.close()
        impatient.close()
        service.stop()
        drop_database(url)


@pytest.mark.parametrize("workers", ["1", "2"])  # uvicorn alone, and gunicorn with uvicorn workers
def test_forwarded_for_from_an_untrusted_client_does_not_spread_the_login_limit(tmp_path, workers):
    url = scratch_database("weilinli_abuse_xff")
    service = Service(
        tmp_path,
        WEILINLI_DATABASE_URL=url,
        WEILINLI_REDIS_URL=REDIS_URL,
        WEILINLI_LOGIN_FAILURES_PER_ADDRESS="4",
        WEILINLI_LOGIN_ATTEMPTS_PER_10MIN="100",
        WEILINLI_LOGIN_FAILURES_PER_ACCOUNT="100",
    )
    assert service.run("db", "upgrade").returncode == 0
    store = redis.Redis.from_url(REDIS_URL)
    for stale in store.scan_iter("wl:rate:login-addr:127.0.0.1:*"):  # this address's count starts at 0
        store.delete(stale)
    service.start("--workers", workers)
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            codes = []
            for i in range(8):
                forged = {"X-Forwarded-For": f"10.{i}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"}
                attempt = {"username": f"x{secrets.token_hex(4)}", "password": "wrong"}
                codes.append(client.post("/api/login", headers=forged, json=attempt).status_code)
        assert codes == [401] * 4 + [429] * 4, codes  # one address (127.0.0.1), whatever the header says
    finally:
        service.stop()
        drop_database(url)
