"""The simulator exists only in demo mode: the app factory leaves it out, and its router refuses
when mounted anyway (in-process apps; the demo service itself is tested in tests/system)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import settings as settings_module


@pytest.fixture
def demo_off(monkeypatch, tmp_path):
    previous = settings_module.get_settings()
    off = settings_module.Settings(**{**previous.model_dump(), "demo": False, "data_dir": tmp_path})
    monkeypatch.setattr(settings_module, "_active", off)
    return off


def test_routes_are_404_when_demo_is_off(demo_off):
    from bot.app import create_app
    from bot.demo.simulator import router

    # the app factory leaves the simulator out (no lifespan needed: nothing is started)…
    client = TestClient(create_app(run_scheduler=False))
    assert client.get("/simulator/").status_code == 404
    assert client.get("/simulator/api/pushes").status_code == 404
    # …and the router itself refuses when mounted anyway
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    assert client.get("/simulator/").status_code == 404
    assert client.get("/simulator/static/simulator.js").status_code == 404
    assert client.get("/simulator/api/pushes", params={"openid": "o-demo-worker-1"}).status_code == 404
    assert client.get("/simulator/api/config").status_code == 404
    assert client.post("/simulator/api/send", json={"openid": "o-x", "kind": "text",
                                                    "content": "你好"}).status_code == 404


def test_router_serves_when_demo_is_on(demo_off, monkeypatch):
    from bot.demo.simulator import router

    monkeypatch.setattr(settings_module, "_active", demo_off.model_copy(update={"demo": True}))
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    page = client.get("/simulator/")
    assert page.status_code == 200 and "微邻里" in page.text
    assert client.get("/simulator/static/simulator.js").status_code == 200
