"""Two service processes sharing PostgreSQL and Redis: retries deduplicated across processes, each
push and reminder sent once, one scheduler leader."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.demo.fake_wechat import Recorder, create_fake_wechat_app
from bot.wechat.wechat_side import WeChatSide, message_xml
from tests.support.chat import NUMBER
from tests.support.procs import Service, drop_database, flush_redis, scratch_database
from tests.support.service import TOKEN, ServerThread

LOAD_DEMO = ("from bot.demo import sample; from bot.core.db import session_scope\n"
             "with session_scope() as s: sample.load(s)")


@pytest.fixture
def pair(tmp_path):
    url = scratch_database("weilinli_multiprocess")
    flush_redis(8)
    recorder = Recorder()
    fake = ServerThread(create_fake_wechat_app(recorder)).start()
    env = dict(WEILINLI_DATABASE_URL=url, WEILINLI_REDIS_URL="redis://127.0.0.1:6379/8",
               WEILINLI_WECHAT_API_BASE=f"{fake.url}/", WEILINLI_SUPERVISION_INTERVAL="0.5",
               WEILINLI_TIME_LIMITS='{"A": {"respond": "3s", "resolve": "1h"}}')
    a, b = Service(tmp_path, **env), Service(tmp_path, **env)
    assert a.run("db", "upgrade").returncode == 0
    subprocess.run([sys.executable, "-c", LOAD_DEMO], env=a.env, check=True, timeout=120)
    a.start()
    b.start()
    yield a, b, recorder, url
    a.stop()
    b.stop()
    fake.stop()
    drop_database(url)


def records(recorder: Recorder, openid: str, needle: str) -> list[dict]:
    with recorder.lock:
        return [r for r in recorder.records if r["touser"] == openid and r["kind"] == "custom"
                and needle in r["body"]["text"]["content"]]


@pytest.mark.timeout(400)
def test_two_processes_share_the_work_without_doing_it_twice(pair):
    a, b, recorder, url = pair
    side_a, side_b = WeChatSide(a.url, TOKEN, timeout=30), WeChatSide(b.url, TOKEN, timeout=30)
    try:
        side_a.text("o-demo-worker-3", "你好")  # the worker's 48-hour window is open
        # WeChat retries one message; the retries land on different processes at the same moment
        body = message_xml("o-multi", "text", {"Content": "幸福小区3栋楼道灯坏了", "MsgId": 99887766})
        replies = []
        threads = [threading.Thread(target=lambda s=s: replies.append(s.post_xml(body)))
                   for s in (side_a, side_b, side_a, side_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        found = {NUMBER.search(r.text).group(0) for r in replies if NUMBER.search(r.text)}
        assert len(found) == 1, [r.body for r in replies]
        number = found.pop()
        second = NUMBER.search(side_b.text("o-multi-2", "幸福家园门口垃圾没人清运").text).group(0)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            records(recorder, "o-demo-worker-3", "督办") and len(records(recorder, "o-demo-worker-3", "督办")) >= 2
        ):
            time.sleep(0.2)
        time.sleep(2)  # anything sent twice would have been sent by now
        with recorder.lock:
            sent = [(r["touser"], r["kind"], str(r["body"])[:80]) for r in recorder.records]
        for n in (number, second):
            assert len(records(recorder, "o-demo-worker-3", f"【新任务】{n}")) == 1, sent
            assert len(records(recorder, "o-demo-worker-3", f"【即将超时】{n}")) == 1
            assert len(records(recorder, "o-demo-worker-3", f"【督办】{n}")) == 1
    finally:
        side_a.close()
        side_b.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar() == 2
    engine.dispose()
    taken = sum(s.log.read_text().count("scheduler leadership taken") for s in (a, b))
    assert taken == 1


def child_pids(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.timeout(300)
def test_serve_workers_are_forked_from_one_master_that_loaded_the_dictionary_once(tmp_path):
    url = scratch_database("weilinli_prefork")
    flush_redis(10)
    fake = ServerThread(create_fake_wechat_app(Recorder())).start()
    service = Service(tmp_path, WEILINLI_DATABASE_URL=url, WEILINLI_REDIS_URL="redis://127.0.0.1:6379/10",
                      WEILINLI_WECHAT_API_BASE=f"{fake.url}/")
    try:
        assert service.run("db", "upgrade").returncode == 0
        subprocess.run([sys.executable, "-c", LOAD_DEMO], env=service.env, check=True, timeout=120)
        service.start("--workers", "2")
        deadline = time.monotonic() + 30
        while len(child_pids(service.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(child_pids(service.proc.pid)) == 2  # forked by the master, not spawned afresh
        log = service.log.read_text()
        assert log.count("loaded once, before forking 2 workers") == 1, log[-2000:]
        side = WeChatSide(service.url, TOKEN, timeout=30)
        try:
            numbers = {NUMBER.search(side.text(f"o-prefork-{i}", f"幸福小区{i}栋楼道灯坏了").text).group(0)
                       for i in range(8)}
        finally:
            side.close()
        assert len(numbers) == 8
        service.proc.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop, not workers killed
        assert service.proc.wait(20) == 0
        assert "SIGKILL" not in service.log.read_text()
    finally:
        service.stop()
        fake.stop()
        drop_database(url)
