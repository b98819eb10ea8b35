"""Shared fixtures: the real service and a fake WeChat API, each served over HTTP by uvicorn.

The database and store come from the environment: SQLite + the embedded store by default,
PostgreSQL + Redis when WEILINLI_DATABASE_URL / WEILINLI_REDIS_URL are set (as .ci/run does).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import text

import settings as settings_module
from bot.core import db, runtime
from bot.demo.fake_wechat import Recorder, create_fake_wechat_app
from bot.wechat.wechat_side import WeChatSide

TOKEN = "weilinli-test-token"
APPID = "wx1234567890abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A uvicorn server on a free loopback port, in a daemon thread."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Env:
    """What a test needs: URLs, the fake WeChat recorder, and a way to change settings."""

    def __init__(self, overrides: dict):
        self.overrides = overrides
        self.app_url = ""
        self.fake_url = ""
        self.recorder: Recorder | None = None
        self.runtime: runtime.Runtime | None = None

    def configure(self, **changes) -> None:
        settings_module.configure(**{**self.overrides, **changes})

    def reset_settings(self) -> None:
        settings_module.configure(**self.overrides)

    def wechat(self, *, aes: bool = False) -> WeChatSide:
        return WeChatSide(self.app_url, TOKEN, aes_key=AES_KEY if aes else "", appid=APPID)

    def open_window(self, *openids: str) -> None:
        """The users write to the account, opening WeChat's 48-hour customer-service window."""
        side = self.wechat(aes=bool(settings_module.get_settings().wechat_aes_key))
        try:
            for openid in openids:
                side.text(openid, "你好")
        finally:
            side.close()

    def pushes(self, openid: str | None = None, kind: str | None = None) -> list[dict]:
        assert self.recorder is not None
        with self.recorder.lock:
            return [r for r in self.recorder.records
                    if (openid is None or r["touser"] == openid) and (kind is None or r["kind"] == kind)]

    def wait_pushes(self, openid: str, count: int = 1, timeout: float = 15, kind: str = "custom") -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.pushes(openid, kind)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} {kind} push(es) to {openid}, got {self.pushes(openid)}")


def _reset_database() -> None:
    """Empty every table. The running service's background jobs may hold row locks at that moment,
    and PostgreSQL can pick this transaction as a deadlock victim: try again."""
    from sqlalchemy.exc import OperationalError

    engine = db.get_engine()
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                for table in reversed(db.Base.metadata.sorted_tables):
                    conn.execute(table.delete())
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> Iterator[Env]:
    recorder = Recorder()
    fake = ServerThread(create_fake_wechat_app(recorder)).start()
    overrides = dict(
        data_dir=tmp_path_factory.mktemp("data"), wechat_token=TOKEN, wechat_appid=APPID, wechat_secret="s3cret",
        wechat_api_base=f"{fake.url}/cgi-bin/", outbox_interval=0.2, media_interval=0.5,
        rate_limit_per_minute=1000,
    )
    e = Env(overrides)
    e.reset_settings()
    # One runtime for the session's service and the tests' own sessions; `clean` freshens its state.
    e.runtime = runtime.Runtime()
    previous = runtime.install(e.runtime)
    from bot.core.migrate import upgrade

    if not settings_module.get_settings().effective_database_url.startswith("sqlite"):
        with db.get_engine().begin() as conn:  # a clean schema on a shared server database
            for table in reversed(db.Base.metadata.sorted_tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade()
    from bot.app import create_app

    app_server = ServerThread(create_app(runtime=e.runtime)).start()
    e.app_url, e.fake_url, e.recorder = app_server.url, fake.url, recorder
    yield e
    app_server.stop()
    fake.stop()
    e.runtime.close()
    runtime.install(previous)


@pytest.fixture
def clean(env: Env) -> Iterator[Env]:
    """A fresh database (with the demo grids and workers), empty store and fake-WeChat records."""
    env.reset_settings()
    _reset_database()
    env.runtime.store.r.flushdb()
    env.runtime.clear_caches()
    with env.recorder.lock:
        env.recorder.records.clear()
        env.recorder.fail_left = 0
    from bot.demo import sample

    with db.session_scope() as session:
        sample.load(session)
    yield env
    env.reset_settings()


@pytest.fixture
def wx(clean: Env) -> Iterator[WeChatSide]:
    side = clean.wechat()
    yield side
    side.close()


@pytest.fixture
def wx_aes(clean: Env) -> Iterator[WeChatSide]:
    clean.configure(wechat_aes_key=AES_KEY)
    side = clean.wechat(aes=True)
    yield side
    side.close()


@pytest.fixture
def http(env: Env) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env.app_url, timeout=10) as client:
        yield client
