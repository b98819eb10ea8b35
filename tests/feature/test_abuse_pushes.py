"""Issue 16, point 5: pushes outlive a long WeChat outage, a slow acceptance is delivered once, a send
that may have been accepted is held (not repeated), dead letters are visible and re-queued, and a
missing template id is a warning, not a silent drop. Real HTTP to the fake WeChat API."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from admin.auth import add_user
from bot.core import db
from bot.core.db import utcnow
from bot.domain.models import OutboxMessage
from bot.notify import outbox
from bot.wechat.client import Client
from bot.wechat.push import make_sender
from tests.support.admin import PASSWORD, login
from tests.support.cli import cli
from tests.support.service import ServerThread

WORKER = "o-demo-worker-4"


def control(env, **body) -> None:
    httpx.post(f"{env.fake_url}/_control", json=body, timeout=5).raise_for_status()


def queue(text: str, **fields) -> int:
    with db.session_scope() as session:
        msg = OutboxMessage(
            openid=WORKER, payload={"text": text}, next_attempt_at=fields.pop("due", utcnow()), **fields
        )
        session.add(msg)
        session.flush()
        return msg.id


def row(message_id: int) -> OutboxMessage:
    with db.session_factory()() as session:
        return session.get(OutboxMessage, message_id)


def wait_status(message_id: int, status: str, timeout: float = 20) -> OutboxMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = row(message_id)
        if found.status == status:
            return found
        time.sleep(0.1)
    raise AssertionError(f"push {message_id} is {row(message_id).status}, not {status}")


@pytest.fixture
def admin(clean):
    with db.session_scope() as session:
        add_user(session, "admin16", PASSWORD, "admin")
    client, csrf = login(clean, "admin16")
    yield client, csrf
    client.close()


def test_pushes_survive_a_two_hour_outage_then_dead_letter_and_requeue(clean, admin):
    clean.open_window(WORKER)
    control(clean, fail=100_000, errcode=0, status=503)  # WeChat down
    start = utcnow()
    message_id = queue("停电两小时后仍要送达", created_at=start, due=start)
    send = make_sender(Client())
    for minute in range(0, 135, 5):  # the drainer's clock walks through 2¼ hours of outage
        outbox.drain(db.session_factory(), send, now=start + timedelta(minutes=minute))
    during = row(message_id)
    assert during.status == "pending" and during.attempts >= 10, (during.status, during.attempts)
    assert during.next_attempt_at - (start + timedelta(minutes=130)) <= timedelta(minutes=10)  # capped backoff

    outbox.drain(db.session_factory(), send, now=start + timedelta(hours=25))  # past the 24 h horizon
    assert wait_status(message_id, "dead").last_error
    client, csrf = admin
    shown = client.get("/api/outbox").json()
    assert shown["counts"]["dead"] == 1 and [h["id"] for h in shown["held"]] == [message_id]
    assert client.get("/api/outbox").headers["cache-control"] == "no-store"

    control(clean, fail=0)  # WeChat is back: an admin re-queues the dead letter
    answer = client.post("/api/outbox/requeue", json={"ids": [message_id]}, headers={"X-CSRF-Token": csrf})
    assert answer.json() == {"requeued": 1}
    wait_status(message_id, "sent")
    assert [r["body"]["text"]["content"] for r in clean.pushes(WORKER, "custom")] == ["停电两小时后仍要送达"]


def test_a_slow_acceptance_is_delivered_once(clean):
    """WeChat answering after 6 s (past the old 5 s client timeout) is waited for, not retried."""
    clean.open_window(WORKER)
    control(clean, delay=6)
    message_id = queue("慢一点也只送一次")
    wait_status(message_id, "sent", timeout=30)
    time.sleep(1.0)
    assert len(clean.pushes(WORKER, "custom")) == 1 and row(message_id).attempts == 1


def test_an_unanswered_push_is_held_as_unknown_and_requeued_by_command(clean):
    clean.configure(wechat_send_timeout=1.0)
    clean.open_window(WORKER)
    control(clean, delay=2.5)  # WeChat takes it but answers too late
    message_id = queue("可能已送达")
    held = wait_status(message_id, "unknown")
    assert "may have been delivered" in held.last_error
    time.sleep(2.0)
    assert len(clean.pushes(WORKER, "custom")) == 1 and row(message_id).status == "unknown"  # not resent

    listed = cli("outbox", "requeue", "--list")
    assert listed.returncode == 0 and f"{message_id}\tunknown" in listed.stdout, listed.stderr
    control(clean, delay=0)
    done = cli("outbox", "requeue", str(message_id))
    assert done.returncode == 0 and "已重新排队 1 条推送" in done.stdout, done.stderr
    wait_status(message_id, "sent")


def test_a_push_interrupted_mid_send_is_held_as_unknown(clean):
    """A process that died after the request left (an `attempting` row whose lease ran out)."""
    clean.open_window(WORKER)
    message_id = queue("发送中断", status="attempting", claimed_until=utcnow() - timedelta(seconds=1), attempts=1)
    assert "interrupted" in wait_status(message_id, "unknown").last_error
    assert clean.pushes(WORKER, "custom") == []


def test_missing_template_id_is_warned_at_start_and_in_the_admin_page(env, clean, admin, caplog):
    from bot.app import create_app

    with caplog.at_level(logging.WARNING, logger="bot.app"):
        second = ServerThread(create_app(run_scheduler=False, runtime=env.runtime)).start()
        second.stop()
    assert any("WEILINLI_WECHAT_TEMPLATE_ID" in r.getMessage() for r in caplog.records)
    client, _ = admin
    assert "WEILINLI_WECHAT_TEMPLATE_ID" in client.get("/api/outbox").json()["warnings"][0]
    page = client.get("/admin/events")
    assert "ops-warning" in page.text and "WEILINLI_WECHAT_TEMPLATE_ID" in page.text
    clean.configure(wechat_template_id="tpl-1")
    assert client.get("/api/outbox").json()["warnings"] == []
    assert "ops-warning" not in client.get("/admin/events").text


def test_only_unscoped_staff_see_the_outbox(site):
    scoped, _ = login(site, "shuiguohu")
    assert scoped.get("/api/outbox").status_code == 403
    viewer, _ = login(site, "viewer1")
    assert viewer.get("/api/outbox").status_code == 403
    with db.session_factory()() as session:
        assert session.scalars(select(OutboxMessage)).first() is not None  # the site has pushes to hide
