"""`weilinli demo` as a newcomer runs it: a real child process on a scratch data directory. It prints
the admin URL with the demo logins, those logins work, the history fills last month's rates, the
simulator links to the admin page, its photos are real images served locally, and
`weilinli menu push` creates the account menu through the (fake) WeChat API, once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from admin.glance import previous_month
from bot.reports import rates
from tests.support.service import free_port

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEILINLI_")}
    return env | {"WEILINLI_DATA_DIR": str(tmp), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = tmp / "demo.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo", "--port", str(port)], cwd=ROOT,
                                env=_env(tmp), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace"))
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"demo did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.3)
        yield {"url": url, "tmp": tmp, "log": log.read_text(errors="replace"), "seconds": time.monotonic() - started}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_demo_prints_the_admin_url_and_logins_that_work(demo):
    printed = demo["log"]
    assert f"Admin page       : {demo['url']}/admin/" in printed, printed
    logins = re.findall(r"login (\S+) / (\S+)", printed)
    assert [name for name, _ in logins] == ["demo-dispatcher", "demo-viewer"]
    assert re.search(r"Demo history\s+: \d+ events and \d+ service orders", printed)
    month = previous_month(rates.current_month())
    with httpx.Client(base_url=demo["url"], timeout=20) as client:
        for name, password in logins:
            answer = client.post("/api/login", json={"username": name, "password": password})
            assert answer.status_code == 200, answer.text
        last = client.get("/api/rates", params={"month": month, "by": "street"}).json()["total"]
        assert last["reported"] > 30 and last["composite"] is not None
        page = client.get("/admin/dashboard", params={"month": month})
        assert page.status_code == 200 and f"{last['composite']:.1f}" in page.text
        assert 'href="/simulator/"' in page.text  # the admin page links back to the simulator


def test_simulator_links_to_the_admin_page_and_photos_are_local(demo):
    with httpx.Client(base_url=demo["url"], timeout=20) as client:
        page = client.get("/simulator/").text
        assert 'href="/admin/"' in page and "指挥调度台" in page
        photo = client.get("/simulator/photos/streetlight.png")
        assert photo.status_code == 200 and photo.content.startswith(PNG)
        assert photo.headers["content-type"] == "image/png"
        assert client.get("/simulator/photos/..%2Fsecret.png").status_code == 404
        sent = client.post("/simulator/api/send", json={"openid": "o-demo-resident-1", "kind": "image"}).json()
        assert f"{demo['url']}/simulator/photos/" in sent["sent"]  # not a WeChat URL
        showcase = client.get("/showcase").text
        assert f"{demo['url']}/simulator/photos/service.png" in showcase  # the 晒单 photos are local too


def test_menu_push_creates_the_menu_once(demo):
    env = _env(demo["tmp"] / "menu") | {"WEILINLI_WECHAT_API_BASE": f"{demo['url']}/_fake_wechat/cgi-bin/",
                                        "WEILINLI_WECHAT_APPID": "wxdemo", "WEILINLI_WECHAT_SECRET": "demo",
                                        "WEILINLI_PUBLIC_URL": demo["url"]}

    def push() -> str:
        done = subprocess.run([sys.executable, "-m", "bot.cli", "menu", "push"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "菜单已创建：报事 / 便民服务 / 我的" in push()
    assert "未变化" in push()  # idempotent: the same menu is not sent again
    records = httpx.get(f"{demo['url']}/_fake_wechat/_records", timeout=10).json()["records"]
    menus = [r["body"] for r in records if r["kind"] == "menu_create"]
    assert len(menus) == 1
    buttons = menus[0]["button"]
    assert [b["name"] for b in buttons] == ["报事", "便民服务", "我的"]
    assert {"SERVICE", "QUERY", "HELP"} <= {s.get("key") for b in buttons for s in b.get("sub_button", [])}
    assert all(len(b["name"].encode()) <= 16 and len(b.get("sub_button", [])) <= 5 for b in buttons)
