"""The service under test and its surroundings: a uvicorn server in a thread, what a test needs
to reach it (`Env`), and a way to empty the database between tests."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from sqlalchemy.exc import OperationalError

import settings as settings_module
from bot.core import db
from bot.core.runtime import Runtime
from bot.demo.fake_wechat import Recorder
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
        self.runtime: Runtime | None = None

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


def reset_database(engine) -> None:
    """Empty every table. The running service's background jobs may hold row locks at that moment,
    and PostgreSQL can pick this transaction as a deadlock victim: try again."""
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
