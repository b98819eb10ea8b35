"""Pushes: the outbox survives API outages and restarts, respects the 48-hour window, and the
client's token handling is bounded and aimed at WEILINLI_WECHAT_API_BASE."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from bot.core import db
from bot.core.db import utcnow
from bot.domain.models import Attachment, OutboxMessage
from bot.wechat.client import Client, call


def control(env, **body) -> None:
    httpx.post(f"{env.fake_url}/_control", json=body, timeout=5).raise_for_status()


def outbox_rows(openid: str) -> list[OutboxMessage]:
    with db.session_factory()() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.openid == openid)))


def test_api_outage_loses_nothing_and_sends_nothing_twice(wx, clean):
    clean.open_window("o-demo-worker-1")
    control(clean, fail=3, errcode=0, status=503)
    wx.text("o-outage", "东亭小区路灯不亮")
    delivered = clean.wait_pushes("o-demo-worker-1", timeout=30)
    time.sleep(1.0)  # any duplicate send would have happened by now
    assert len(clean.pushes("o-demo-worker-1", "custom")) == len(delivered) == 1
    assert len(clean.pushes("o-demo-worker-1", "custom:failed")) == 3
    [row] = outbox_rows("o-demo-worker-1")
    assert row.status == "sent" and row.attempts == 4  # every request counts, the one that got through too


def test_window_closed_error_falls_back_to_template(wx, clean):
    clean.configure(wechat_template_id="tpl-task")
    clean.open_window("o-demo-worker-2")
    control(clean, fail=1, errcode=45015)
    wx.text("o-fallback", "省委宿舍门口垃圾堆成山了")
    [push] = clean.wait_pushes("o-demo-worker-2", kind="template")
    assert push["body"]["template_id"] == "tpl-task"
    assert "新任务" in push["body"]["data"]["first"]["value"]


def test_outside_48_hours_goes_straight_to_template(wx, clean):
    clean.configure(wechat_template_id="tpl-task")
    wx.text("o-tmpl", "东亭小区路灯不亮")  # worker 1 never wrote to the account
    clean.wait_pushes("o-demo-worker-1", kind="template")
    assert clean.pushes("o-demo-worker-1", "custom") == []


def test_no_template_id_holds_pushes_outside_the_window_with_a_clear_error(wx, clean):
    """Not a silent dead letter: the push waits (retried with backoff until the window reopens or
    the dead-letter horizon passes) and says why."""
    wx.text("o-dead", "东亭小区路灯不亮")  # worker 1 never wrote to the account, no template id is set
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline:
        rows = outbox_rows("o-demo-worker-1")
        if rows and rows[0].last_error:
            break
        time.sleep(0.1)
    assert rows[0].status == "pending" and "no template id" in rows[0].last_error
    clean.open_window("o-demo-worker-1")  # the worker writes: the window is open, the push can go
    with db.session_scope() as session:  # due now rather than after its backoff
        session.get(OutboxMessage, rows[0].id).next_attempt_at = utcnow()
    clean.wait_pushes("o-demo-worker-1")


def test_pushes_written_before_a_crash_are_sent_after_restart(clean):
    clean.open_window("o-demo-worker-4")
    with db.session_scope() as session:
        session.add(OutboxMessage(openid="o-demo-worker-4", payload={"text": "重启前待发"},
                                  next_attempt_at=utcnow()))
        # claimed by a process that died mid-send: its lease has run out
        session.add(OutboxMessage(openid="o-demo-worker-4", payload={"text": "发送中崩溃"}, status="sending",
                                  claimed_until=utcnow() - timedelta(seconds=1), next_attempt_at=utcnow()))
    pushes = clean.wait_pushes("o-demo-worker-4", 2)
    assert {p["body"]["text"]["content"] for p in pushes} == {"重启前待发", "发送中崩溃"}


def test_token_comes_from_the_configured_base(clean):
    client = Client()
    client.message.send_text("o-token-check", "hello")
    assert clean.recorder.token_fetches >= 1
    assert clean.pushes("o-token-check", "custom")


def test_revoked_token_is_refreshed_with_a_bounded_retry(clean):
    client = Client()
    call(client, client.message.send_text, "o-revoke", "first")
    control(clean, revoke_tokens=True)
    before = clean.recorder.token_fetches
    call(client, client.message.send_text, "o-revoke", "second")
    assert clean.recorder.token_fetches == before + 1
    assert len(clean.pushes("o-revoke", "custom")) == 2


def test_a_push_no_channel_reaches_backs_off_longer_with_each_try(clean):
    """Outside the window and no template id: nothing is sent, and each try counts, so the wait
    before the next one doubles (2 s, 4 s, 8 s …) instead of the push being tried every drain."""
    from bot.notify.outbox import drain, enqueue
    from bot.wechat.push import make_sender

    later = utcnow() + timedelta(hours=1)  # not due for the running service's own drainer
    with db.session_scope() as session:
        enqueue(session, "o-nobody-reaches", "无法送达", dedup_key="backoff:1")
        session.execute(OutboxMessage.__table__.update().where(OutboxMessage.dedup_key == "backoff:1")
                        .values(next_attempt_at=later))
    sender, waits = make_sender(Client()), []
    for tries in (1, 2, 3):
        assert drain(db.session_factory(), sender, now=later) == 0
        with db.session_factory()() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "backoff:1"))
        assert row.status == "pending" and row.attempts == tries and "no template id" in row.last_error
        waits.append((row.next_attempt_at - later).total_seconds())
        later = row.next_attempt_at
    assert waits == [2.0, 4.0, 8.0], waits


def test_the_shared_token_is_read_once_for_a_run_of_pushes_and_again_after_a_revocation(clean, monkeypatch):
    client = Client()
    call(client, client.message.send_text, "o-held", "first")
    reads = []
    real_get = client.session.get
    monkeypatch.setattr(client.session, "get", lambda key, *a: reads.append(key) or real_get(key, *a))
    for n in range(5):
        call(client, client.message.send_text, "o-held", f"again {n}")
    assert reads == []  # held by the process: no Redis read per push
    control(clean, revoke_tokens=True)
    before = clean.recorder.token_fetches
    call(client, client.message.send_text, "o-held", "after the revocation")
    assert clean.recorder.token_fetches == before + 1 and reads  # 40001: dropped, fetched, read anew
    assert len(clean.pushes("o-held", "custom")) == 7


def test_invalid_credential_forever_gives_up_after_three_tries(clean, monkeypatch):
    class NeverValid(set):
        def __contains__(self, item):
            return False

    monkeypatch.setattr(clean.recorder, "tokens", NeverValid())
    client = Client()
    before = clean.recorder.token_fetches
    with pytest.raises(WeChatClientException) as info:
        call(client, client.message.send_text, "o-never", "x")
    assert info.value.errcode == 40001
    assert clean.recorder.token_fetches - before <= 3


def test_photos_are_downloaded_before_wechat_media_expires(wx):
    wx.image("o-photo")
    deadline = time.monotonic() + 15
    path = None
    while time.monotonic() < deadline and not path:
        with db.session_factory()() as session:
            path = session.scalar(select(Attachment.local_path).where(Attachment.kind == "image"))
        time.sleep(0.1)
    assert path and open(path, "rb").read(2) == b"\xff\xd8"


def test_an_oversized_photo_is_refused_while_streaming_and_the_report_stands(wx, clean):
    from bot.wechat import media

    control(clean, media_bytes=media.MAX_BYTES + 1024 * 1024)  # 11 MB: over the 10 MB limit
    reply = wx.image("o-big-photo")
    assert "WL" in reply.text  # the report itself is taken as usual
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(clean.pushes(kind="media_get")) < media.MAX_TRIES:
        time.sleep(0.1)
    time.sleep(1.5)  # a few more sweeps: the tries stay bounded
    assert len(clean.pushes(kind="media_get")) == media.MAX_TRIES
    with db.session_factory()() as session:
        item = session.scalar(select(Attachment).where(Attachment.kind == "image"))
    assert item is not None and item.local_path is None
    assert not [f for f in media.media_dir().rglob("*") if f.is_file() and f.stat().st_size > media.MAX_BYTES]
    control(clean, media_bytes=5000)
    with pytest.raises(ValueError, match="over the 4096-byte limit"):  # refused on the declared length
        Client().download_media("any", limit=4096)
    control(clean)
    content, kind = Client().download_media("any", limit=4096)
    assert content[:2] == b"\xff\xd8" and kind == "image/jpeg"


def test_claims_lease_each_due_message_to_one_drainer_in_one_statement(clean):
    from bot.notify.outbox import claim_due, enqueue

    later = utcnow() + timedelta(hours=1)  # not due for the running service's own drainer
    with db.session_scope() as session:
        for n in range(7):
            enqueue(session, "o-claims", f"第{n}条", dedup_key=f"claims:{n}")
        session.execute(OutboxMessage.__table__.update().where(OutboxMessage.openid == "o-claims")
                        .values(next_attempt_at=later))
    first_session, second_session = db.session_factory()(), db.session_factory()()
    try:
        first = claim_due(first_session, later, limit=4)
        second = claim_due(second_session, later, limit=4)
        third = claim_due(first_session, later, limit=4)  # all leased: nothing left
    finally:
        first_session.close()
        second_session.close()
    assert len(first) == 4 and len(second) == 3 and third == []
    assert not set(first) & set(second)
    with db.session_factory()() as session:
        statuses = session.scalars(select(OutboxMessage.status).where(OutboxMessage.openid == "o-claims")).all()
    assert statuses == ["sending"] * 7


def test_during_a_flood_urgent_alerts_go_first_and_routine_pushes_wait_between_sends(clean, monkeypatch):
    from bot.notify import outbox
    from bot.notify.outbox import URGENT, drain, enqueue

    later = utcnow() + timedelta(hours=1)  # not due for the running service's own drainer
    with db.session_scope() as session:
        for n in range(4):
            enqueue(session, "o-routine", f"例行第{n}条", dedup_key=f"routine:{n}")
        enqueue(session, "o-on-duty", "紧急：燃气泄漏", dedup_key=f"{URGENT}WL-X:o-on-duty")  # queued last
        session.execute(OutboxMessage.__table__.update().where(OutboxMessage.openid.in_(["o-routine", "o-on-duty"]))
                        .values(next_attempt_at=later))
    sent, asked = [], []
    monkeypatch.setattr(outbox, "YIELD", 0.1)
    started = time.monotonic()
    assert drain(db.session_factory(), lambda msg: sent.append(msg.payload["text"]), now=later,
                 pause=lambda: asked.append(len(sent)) or True) == 5  # flooded all along
    assert sent == ["紧急：燃气泄漏"] + [f"例行第{n}条" for n in range(4)]
    assert asked == [2, 3, 4, 5]  # a pause after each routine push, none after the alert
    assert time.monotonic() - started >= 0.4


def test_one_drain_works_off_a_flood_batch_after_batch(clean):
    from bot.notify.outbox import BATCH, drain, enqueue

    later = utcnow() + timedelta(hours=1)  # not due for the running service's own drainer
    with db.session_scope() as session:
        for n in range(BATCH * 2 + 7):
            enqueue(session, "o-flood", f"第{n}条", dedup_key=f"flood:{n}")
        session.execute(OutboxMessage.__table__.update().where(OutboxMessage.openid == "o-flood")
                        .values(next_attempt_at=later))
    sent: list[str] = []
    assert drain(db.session_factory(), lambda msg: sent.append(msg.payload["text"]), now=later) == BATCH * 2 + 7
    assert sorted(sent) == sorted(f"第{n}条" for n in range(BATCH * 2 + 7))  # each once
    with db.session_factory()() as session:
        statuses = set(session.scalars(select(OutboxMessage.status).where(OutboxMessage.openid == "o-flood")))
    assert statuses == {"sent"}


def test_a_batch_costs_one_commit_per_push_and_one_window_lookup_and_marks_before_sending(clean):
    """Issue 18: each push is marked `attempting` in a commit of its own before its request leaves
    (the previous push's outcome rides in the same commit), and the 48-hour window of the whole
    batch is read in one query, not a session per push."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from bot.notify.outbox import drain, enqueue
    from bot.wechat.push import make_sender

    clean.configure(wechat_template_id="tpl-batch")
    clean.open_window("o-demo-worker-1", "o-demo-worker-2")
    later = utcnow() + timedelta(hours=1)  # not due for the running service's own drainer
    recipients = ["o-demo-worker-1", "o-demo-worker-2", "o-batch-never-wrote"] * 4
    with db.session_scope() as session:
        for n, openid in enumerate(recipients):
            enqueue(session, openid, f"批量第{n}条", dedup_key=f"batch:{n}")
        session.execute(OutboxMessage.__table__.update().where(OutboxMessage.dedup_key.like("batch:%"))
                        .values(next_attempt_at=later))
    sender, seen = make_sender(Client()), []

    def send(msg: OutboxMessage) -> None:
        with db.session_factory()() as other:  # what a crash right now would leave behind
            rows = dict(other.execute(select(OutboxMessage.id, OutboxMessage.status)
                                      .where(OutboxMessage.dedup_key.like("batch:%"))).all())
        seen.append((rows[msg.id], [rows[i] for i in sorted(rows) if i < msg.id]))
        sender(msg)

    send.prepare, send.choose = sender.prepare, sender.choose
    statements, commits, me = [], [], threading.current_thread()  # not the service's own drainer

    def listen_sql(conn, cursor, sql, *rest):
        if threading.current_thread() is me:
            statements.append(sql)

    def listen_commit(conn):
        if threading.current_thread() is me:
            commits.append(1)

    event.listen(Engine, "before_cursor_execute", listen_sql)
    event.listen(Engine, "commit", listen_commit)
    try:
        delivered = drain(db.session_factory(), send, now=later)
    finally:
        event.remove(Engine, "before_cursor_execute", listen_sql)
        event.remove(Engine, "commit", listen_commit)
    # the 8 in the window are sent as customer-service messages; the 4 outside go as template
    # messages in the same drain, in one attempt each (no request is spent learning the window is shut)
    assert delivered == 12 and len(seen) == 12
    assert all(status == "attempting" for status, _ in seen)
    assert all(set(before) <= {"sent", "pending"} for _, before in seen)  # earlier outcomes already committed
    window_reads = [s for s in statements if "FROM resident" in s]
    assert len(window_reads) == 1, window_reads
    assert len(commits) <= len(recipients) + 2, len(commits)  # the lease, one per push, the last outcome
    with db.session_factory()() as session:
        rows = session.execute(select(OutboxMessage.openid, OutboxMessage.status, OutboxMessage.channel,
                                      OutboxMessage.attempts, OutboxMessage.claimed_until)
                               .where(OutboxMessage.dedup_key.like("batch:%"))).all()
    assert {(o, s, c, a, u) for o, s, c, a, u in rows} == {
        ("o-demo-worker-1", "sent", "customer_service", 1, None),
        ("o-demo-worker-2", "sent", "customer_service", 1, None),
        ("o-batch-never-wrote", "sent", "template", 1, None),
    }
    assert len(clean.pushes("o-demo-worker-1", "custom")) >= 4


def test_the_client_sends_what_wechatpy_asked_and_a_late_answer_stays_a_read_timeout(clean):
    """The client's calls skip requests' Session machinery (bot.wechat.client.RewritingSession._plain):
    the same request still arrives — token in the query, Chinese JSON body — and an answer that
    comes too late is still requests' ReadTimeout, which the sender holds as perhaps delivered."""
    import requests

    client = Client()
    call(client, client.message.send_text, "o-plain", "东亭小区3栋：路灯不亮，已派单")
    [record] = clean.pushes("o-plain", "custom")
    assert record["body"]["text"]["content"] == "东亭小区3栋：路灯不亮，已派单"
    clean.configure(wechat_send_timeout=0.5)
    control(clean, delay=1.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(client, client.message.send_text, "o-plain", "晚到的回答")


def _queued_later(*pushes: tuple[str, str, dict]) -> datetime:
    """Queue (openid, text, enqueue options) pushes due an hour from now (not for the running
    service's own drainer); returns that hour."""
    from bot.notify.outbox import enqueue

    later = utcnow() + timedelta(hours=1)
    with db.session_scope() as session:
        ids = [enqueue(session, openid, text, **options) for openid, text, options in pushes]
        session.execute(OutboxMessage.__table__.update().where(OutboxMessage.id.in_(ids))
                        .values(next_attempt_at=later))
    return later


def _task(openid: str, number: str, text: str | None = None) -> tuple[str, str, dict]:
    return (openid, text or f"【新任务】{number}\n地点：幸福小区\n回复「接单 {number}」开始处置",
            {"dedup_key": f"task:{number}:{openid}", "digest": ("新任务", number)})


def test_new_tasks_for_one_worker_that_fall_due_together_go_as_one_push(clean):
    """A flood in one grid: its worker gets one message naming the new tasks, not one per task
    (WeChat lets a follower's message open five customer-service sends). Urgent alerts and other
    pushes still go alone, the alert first."""
    from bot.notify.outbox import URGENT, drain

    later = _queued_later(
        _task("o-digest-a", "WL-D1"), _task("o-digest-b", "WL-D2"), _task("o-digest-a", "WL-D3"),
        ("o-digest-a", "【居民补充】WL-D1\n门口", {}), _task("o-digest-a", "WL-D4"),
        ("o-digest-a", "【紧急】WL-D5 燃气", {"dedup_key": f"{URGENT}WL-D5:a", "digest": ("新任务", "WL-D5")}),
    )
    sent: list[tuple[str, str]] = []
    assert drain(db.session_factory(), lambda msg: sent.append((msg.openid, msg.payload["text"])), now=later) == 6
    assert sent[0] == ("o-digest-a", "【紧急】WL-D5 燃气")
    digest = [text for openid, text in sent if openid == "o-digest-a" and text.startswith("【新任务】3 条")]
    assert len(digest) == 1 and len(sent) == 4
    assert digest[0].splitlines()[0] == "【新任务】3 条：WL-D1、WL-D3、WL-D4"
    for number in ("WL-D1", "WL-D3", "WL-D4"):
        assert f"回复「接单 {number}」开始处置" in digest[0]
    assert ("o-digest-b", _task("o-digest-b", "WL-D2")[1]) in sent  # alone: as it was queued
    assert ("o-digest-a", "【居民补充】WL-D1\n门口") in sent
    rows = outbox_rows("o-digest-a") + outbox_rows("o-digest-b")
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)} and len(rows) == 6


def test_a_digest_stays_within_wechats_text_limit(clean):
    from bot.notify.outbox import DIGEST_MAX, TEXT_BYTES, drain

    long = "内容：" + "楼道灯坏了好几天了晚上看不见" * 12
    later = _queued_later(*[_task("o-digest-long", f"WL-L{n}", f"【新任务】WL-L{n}\n{long}") for n in range(7)],
                          *[_task("o-digest-short", f"WL-S{n}") for n in range(DIGEST_MAX + 2)])
    sent: list[tuple[str, str]] = []
    assert drain(db.session_factory(), lambda msg: sent.append((msg.openid, msg.payload["text"])),
                 now=later) == 7 + DIGEST_MAX + 2
    assert all(len(text.encode()) <= TEXT_BYTES for _, text in sent)
    long_sends = [text for openid, text in sent if openid == "o-digest-long"]
    assert 1 < len(long_sends) < 7
    assert sorted(n for text in long_sends for n in range(7) if f"【新任务】WL-L{n}\n" in text) == list(range(7))
    short_sends = [text for openid, text in sent if openid == "o-digest-short"]
    assert [text.splitlines()[0] for text in short_sends] == [
        f"【新任务】{DIGEST_MAX} 条：" + "、".join(f"WL-S{n}" for n in range(DIGEST_MAX)),
        f"【新任务】2 条：WL-S{DIGEST_MAX}、WL-S{DIGEST_MAX + 1}"]


def test_a_digest_that_cannot_go_on_its_channel_falls_back_whole(clean):
    """45015 on a digest: every task in it takes the template channel, and goes there together."""
    from bot.notify.outbox import PushError, drain

    later = _queued_later(_task("o-digest-fb", "WL-F1"), _task("o-digest-fb", "WL-F2"))

    def window_closed(msg: OutboxMessage) -> None:
        raise PushError("45015", fallback="template")

    assert drain(db.session_factory(), window_closed, now=later) == 0
    rows = outbox_rows("o-digest-fb")
    assert {(r.status, r.channel, r.attempts) for r in rows} == {("pending", "template", 1)}
    sent: list[tuple[str, str]] = []
    assert drain(db.session_factory(), lambda msg: sent.append((msg.channel, msg.payload["text"])), now=later) == 2
    [(channel, text)] = sent
    assert channel == "template" and text.startswith("【新任务】2 条：WL-F1、WL-F2")
    assert {(r.status, r.attempts) for r in outbox_rows("o-digest-fb")} == {("sent", 2)}


def test_a_workers_new_tasks_reach_wechat_as_one_customer_service_message(wx, clean):
    """Each report's task push is part of a digest; through the real sender and the fake WeChat,
    two task pushes due together are one customer-service message to the grid worker."""
    from bot.notify.outbox import drain
    from bot.wechat.push import make_sender

    clean.open_window("o-demo-worker-5")
    wx.text("o-digest-resident", "水果湖小区3栋楼道灯坏了好几天了，晚上看不见")
    clean.wait_pushes("o-demo-worker-5")  # the service's own drainer sent the report's task
    with db.session_factory()() as session:
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.openid == "o-demo-worker-5"))
        assert row.payload["digest"] == ["新任务", row.payload["text"].splitlines()[0].removeprefix("【新任务】")]
    later = _queued_later(_task("o-demo-worker-5", "WL-W1"), _task("o-demo-worker-5", "WL-W2"))
    assert drain(db.session_factory(), make_sender(Client()), now=later) == 2
    texts = [p["body"]["text"]["content"] for p in clean.pushes("o-demo-worker-5", "custom")]
    assert len([t for t in texts if t.startswith("【新任务】2 条：WL-W1、WL-W2\n\n【新任务】WL-W1")]) == 1
    assert not [t for t in texts if t.startswith("【新任务】WL-W")]  # neither went alone
