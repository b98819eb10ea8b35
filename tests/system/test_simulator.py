"""The WeChat simulator page (demo mode): page, send through the real webhook, pushes.
The demo gating of its routes is in tests/feature/test_simulator_gating.py.

The demo service runs in its own process (uvicorn, SQLite + embedded store, the fake WeChat API
mounted at /_fake_wechat), configured exactly as `weilinli demo` does. A process rather than a
thread, because settings and the current runtime (engine, store, scheduler) are process-wide: a
demo app in this process would share them with the session-wide service of conftest.py, whose
scheduler could then drain the demo's outbox to its own fake WeChat API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.chat import NUMBER
from tests.support.service import free_port

ROOT = Path(__file__).resolve().parents[2]
AES_KEY = "SimulatorTestKey0123456789abcdefghijklmnopq"  # 43 characters
assert len(AES_KEY) == 43

SERVER = r"""
import sys
import settings
port, data_dir, aes_key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
settings.configure(demo=True, data_dir=data_dir, database_url="", redis_url="", wechat_aes_key=aes_key,
                   wechat_api_base=f"{base}/_fake_wechat/", public_url=base)
from bot.app import create_app
from bot.core import db, runtime
from bot.demo import sample
from bot.core.migrate import upgrade
service = create_app()
runtime.install(service.state.runtime)
upgrade()
with db.session_scope() as session:
    sample.load(session)
import uvicorn
uvicorn.run(service, host="127.0.0.1", port=port, log_level="warning")
"""


class DemoServer:
    def __init__(self, data_dir: Path, aes_key: str = ""):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEILINLI_")}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port), str(data_dir), aes_key],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo server exited:\n{self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"demo server did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.2)
        self.http = httpx.Client(base_url=self.url, timeout=20)

    def stop(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def send(self, **body) -> httpx.Response:
        return self.http.post("/simulator/api/send", json=body)

    def wait_pushes(self, openid: str, timeout: float = 15, since: int = 0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.http.get("/simulator/api/pushes", params={"openid": openid, "since": since})
            assert response.status_code == 200, response.text
            found = response.json()["pushes"]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("simulator"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def aes_server(tmp_path_factory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("simulator-aes"), AES_KEY)
    yield server
    server.stop()


def test_page_renders_personas_in_chinese(demo_server: DemoServer):
    response = demo_server.http.get("/simulator/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="zh-CN">' in page and "公众号推送" in page and "明文模式" in page
    for name in ("张阿姨", "李先生", "张敏", "李强", "王芳", "赵磊", "陈静", "刘洋", "周红"):
        assert name in page
    for openid in ("o-demo-resident-1", "o-demo-worker-3", "o-demo-volunteer-1"):
        assert openid in page
    assert "https://" not in page and "//cdn" not in page.lower()  # everything is vendored
    for asset, kind in (("simulator.css", "text/css"), ("simulator.js", "javascript")):
        got = demo_server.http.get(f"/simulator/static/{asset}")
        assert got.status_code == 200 and kind in got.headers["content-type"]
    assert demo_server.http.get("/simulator/static/..%2F__init__.py").status_code == 404
    assert demo_server.http.get("/simulator/static/routes.py").status_code == 404
    config = demo_server.http.get("/simulator/api/config").json()
    assert config["mode"]["safe_mode"] is False
    assert len(config["places"]) == 6


def test_report_through_the_webhook_and_the_worker_push(demo_server: DemoServer):
    # The grid worker follows the account first: that opens WeChat's 48-hour customer-service window.
    followed = demo_server.send(openid="o-demo-worker-3", kind="subscribe")
    assert followed.status_code == 200 and followed.json()["status"] == 200

    response = demo_server.send(openid="o-demo-resident-1", kind="text", content="幸福小区3栋楼道灯坏了")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == 200 and result["aes"] is False
    number = NUMBER.search(result["reply"])
    assert number, result["reply"]
    assert "幸福小区3栋楼道灯坏了" in result["sent"] and "o-demo-resident-1" in result["sent"]
    assert number.group() in result["raw"]

    pushes = demo_server.wait_pushes("o-demo-worker-3")
    assert pushes, "no push reached the grid worker within 15 s"
    assert pushes[0]["touser"] == "o-demo-worker-3"
    assert pushes[0]["channel"] in ("客服消息", "模板消息", "订阅通知")
    assert any(number.group() in p["text"] for p in pushes)
    # since= only returns newer pushes; no openid means everyone's
    last = max(p["id"] for p in pushes)
    assert demo_server.http.get("/simulator/api/pushes", params={"openid": "o-demo-worker-3",
                                                                "since": last}).json()["pushes"] == []
    everyone = demo_server.http.get("/simulator/api/pushes").json()
    assert {p["touser"] for p in everyone["pushes"]} >= {"o-demo-worker-3"}

    # The resident queries it through the menu.
    query = demo_server.send(openid="o-demo-resident-1", kind="click", key="QUERY").json()
    assert number.group() in query["reply"]


def test_other_message_kinds(demo_server: DemoServer):
    openid = "o-demo-resident-2"
    voice = demo_server.send(openid=openid, kind="voice", content="").json()  # recognition failed
    assert voice["status"] == 200 and voice["reply"]
    assert "<Recognition><![CDATA[]]></Recognition>" in voice["sent"]
    located = demo_server.send(openid=openid, kind="location", lat=30.5532, lng=114.3521, label="东亭花园").json()
    assert located["status"] == 200 and "<Location_X>30.5532</Location_X>" in located["sent"]
    photo = demo_server.send(openid=openid, kind="image").json()
    assert photo["status"] == 200 and "<MsgType><![CDATA[image]]></MsgType>" in photo["sent"]
    hello = demo_server.send(openid="o-demo-resident-3", kind="subscribe").json()
    assert hello["status"] == 200 and "欢迎" in hello["reply"]
    hostile = demo_server.send(openid=openid, kind="text", content="查询 ]]><script>alert(1)</script>").json()
    assert hostile["status"] == 200


def test_bad_requests_are_refused(demo_server: DemoServer):
    assert demo_server.send(openid="bad openid!", kind="text", content="你好").status_code == 422
    assert demo_server.send(openid="o-x", kind="text", content="  ").status_code == 422
    assert demo_server.send(openid="o-x", kind="location").status_code == 422
    assert demo_server.send(openid="o-x", kind="teleport").status_code == 422
    assert demo_server.send(openid="o-x", kind="text", content="长" * 5000).status_code == 422
    # aes asked for while the service is in plaintext mode: sent in plaintext, which is what works
    plain = demo_server.send(openid="o-demo-resident-4", kind="text", content="查询", aes=True).json()
    assert plain["aes"] is False and plain["status"] == 200


def test_safe_mode_encrypts_and_plaintext_is_refused(aes_server: DemoServer):
    page = aes_server.http.get("/simulator/").text
    assert "安全模式（AES 加密）" in page
    encrypted = aes_server.send(openid="o-demo-resident-1", kind="text", content="幸福小区3栋楼道灯坏了",
                                aes=True).json()
    assert encrypted["status"] == 200 and encrypted["aes"] is True
    assert NUMBER.search(encrypted["reply"])
    assert "<Encrypt>" in encrypted["raw"] and "幸福小区" not in encrypted["raw"]
    assert NUMBER.search(encrypted["decrypted"]) and "<MsgType>text</MsgType>" in encrypted["decrypted"]
    plaintext = aes_server.send(openid="o-demo-resident-1", kind="text", content="查询", aes=False).json()
    assert plaintext["status"] == 403 and plaintext["reply"] == ""
