"""Store first when the full path cannot answer in time (issue 18's overload): the webhook answers
"已收到，编号…" within its reply budget, the report is completed in the background and pushed,
nothing is lost and nothing doubled — shown with an artificially slowed classifier, over HTTP with
real signatures and AES."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

import nlp
from admin.auth import add_user
from bot.core import db
from bot.domain.models import Event, InboxMessage
from bot.wechat import inbox
from tests.support.admin import PASSWORD, logged_in
from tests.support.chat import NUMBER, event, number_in, wait_text
from tests.support.cli import cli
from tests.support.service import AES_KEY


@pytest.fixture
def slow_classifier(monkeypatch):
    """Every classification takes `delay` seconds more (set it on the returned dict); with `only`
    set, only texts containing it."""
    real = nlp.classify
    knob = {"delay": 0.0, "only": ""}

    def slow(text, *args, **kwargs):
        if knob["only"] in text:
            time.sleep(knob["delay"])
        return real(text, *args, **kwargs)

    monkeypatch.setattr(nlp, "classify", slow)
    return knob


def _stored(key_openid: str) -> list[InboxMessage]:
    with db.session_factory()() as session:
        return list(session.scalars(select(InboxMessage).where(InboxMessage.openid == key_openid)))


def _settled(timeout: float = 90) -> None:
    """Every stored message handled by the background (else the next test's clean-up races it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session_factory()() as session:
            if not session.scalar(select(func.count()).select_from(InboxMessage)
                                  .where(InboxMessage.status.in_(InboxMessage.OPEN_STATES))):
                return
        time.sleep(0.3)
    raise AssertionError("stored messages still waiting")


def _at_once(clean, count: int, openid: str, text: str, *, aes: bool = False,
             msg_ids: int | None = None) -> dict[int, str]:
    """`count` residents report at the same moment: `openid` and `text` are formatted with their
    index i (and their MsgId is `msg_ids` + i, so a retry can repeat it); the replies by i."""
    replies: dict[int, str] = {}

    def send(i: int) -> None:
        side = clean.wechat(aes=aes)
        msg_id = None if msg_ids is None else msg_ids + i
        replies[i] = side.text(openid.format(i=i), text.format(i=i), msg_id=msg_id).text
        side.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return replies


def _events_of(text: str) -> int:
    with db.session_factory()() as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.text == text))


def test_a_report_whose_classifier_overruns_the_budget_is_answered_in_time_and_completed(
        clean, slow_classifier):
    clean.configure(reply_budget=1.0, wechat_aes_key=AES_KEY)
    slow_classifier["delay"] = 2.5
    side = clean.wechat(aes=True)
    text = "幸福小区3栋楼道灯坏了，晚上黑漆漆的"
    started = time.monotonic()
    reply = side.text("o-slow-1", text, msg_id=880001)
    took = time.monotonic() - started
    assert took < 2.0, took  # the budget (1 s) and a little, not the classifier's 2.5 s
    assert "已收到，编号" in reply.text and "分类与派单结果稍后推送" in reply.text, reply.text
    number = number_in(reply.text)
    retry = side.text("o-slow-1", text, msg_id=880001)  # WeChat's retry of the same delivery
    assert retry.text == reply.text
    # The background handles it with the same routers: classified, routed, the number kept.
    pushed = wait_text(clean, "o-slow-1", f"事件编号：{number}", timeout=30)
    assert "王芳" in pushed and "类别" in pushed
    saved = event(number)
    assert saved is not None and saved.status == "assigned" and saved.grid.name == "幸福家园网格"
    assert saved.source_key == "msg:o-slow-1:880001"
    time.sleep(3)  # the taken-over handler finished meanwhile: it rolled back, wrote nothing
    assert _events_of(text) == 1
    assert [m.status for m in _stored("o-slow-1")] == ["done"]
    with db.session_scope() as session:
        add_user(session, "admin18", PASSWORD, "admin")
    with logged_in(clean, "admin18") as (client, _):  # the admin sees what was stored first
        assert client.get("/api/outbox").json()["stored_first"] == {"done": 1}
    assert [e.action for e in saved.timeline] == ["report", "assign"]
    side.close()


def test_a_number_promised_but_not_yet_an_event_is_answered_as_on_its_way(clean, slow_classifier):
    clean.configure(reply_budget=1.0)
    slow_classifier.update(delay=4.0, only="井盖")  # the report is slow, the 查询 is not
    side = clean.wechat()
    first = side.text("o-slow-3", "中北路和东亭路路口的井盖丢了，很危险").text
    assert "稍后推送" in first, first
    number = number_in(first)
    for asked in (number, f"查询 {number}"):
        answer = side.text("o-slow-3", asked).text
        assert answer == f"事件 {number} 已收到，正在分类与派单，结果稍后推送给您。", answer
    assert side.text("o-someone-else", number).text.startswith("未找到")  # never someone else's
    wait_text(clean, "o-slow-3", f"事件编号：{number}", timeout=30)
    assert side.text("o-slow-3", number).text.startswith(f"事件 {number}【")  # the event itself now
    side.close()


def test_a_stored_message_that_keeps_failing_is_shown_to_the_dispatcher_and_retried(clean, monkeypatch):
    """A report stored first whose handling fails every time: after MAX_ATTEMPTS the resident is
    asked to send again, a dispatcher sees it with its promised number (API and CLI) and retries
    it; the report then takes that number and its outcome is pushed after the apology."""
    real, knob = nlp.classify, {"delay": 2.5, "fail": True}

    def classify(text, *args, **kwargs):
        time.sleep(knob["delay"])
        if knob["fail"] and not threading.current_thread().name.startswith("AnyIO"):
            raise RuntimeError("classifier down")  # the background's attempts, not the webhook's thread
        return real(text, *args, **kwargs)

    monkeypatch.setattr(nlp, "classify", classify)
    clean.configure(reply_budget=1.0)
    side = clean.wechat()
    text = "翠柳小区5栋门口的下水道堵了，污水冒出来了"
    reply = side.text("o-fails", text).text
    assert "稍后推送" in reply, reply
    number = number_in(reply)
    deadline = time.monotonic() + 30
    while not (stored := _stored("o-fails")) or stored[0].attempts < 1 or stored[0].last_error is None:
        assert time.monotonic() < deadline, "the background never tried it"
        time.sleep(0.1)
    knob["delay"] = 0.0
    with db.session_scope() as session:  # skip the growing pauses of attempts 2 … MAX_ATTEMPTS - 1
        message = session.get(InboxMessage, stored[0].id)
        message.attempts, message.claimed_until = inbox.MAX_ATTEMPTS - 1, db.utcnow()
    assert "请再发一次" in wait_text(clean, "o-fails", "未能处理", timeout=30)
    [failed] = _stored("o-fails")
    assert failed.status == "failed" and "classifier down" in failed.last_error and failed.number == number

    listed = cli("inbox", "retry", "--list")
    assert listed.returncode == 0 and f"{failed.id}\t{number}\to-fails" in listed.stdout, listed.stderr
    with db.session_scope() as session:
        add_user(session, "dispatch18", PASSWORD, "dispatcher")
    with logged_in(clean, "dispatch18") as (client, csrf):
        shown = client.get("/api/outbox").json()
        assert shown["stored_first"] == {"failed": 1}
        [row] = shown["failed_messages"]
        assert (row["id"], row["number"], row["text"]) == (failed.id, number, text)
        knob["fail"] = False  # the classifier is back: the dispatcher retries it
        answer = client.post("/api/inbox/retry", json={"ids": [failed.id]}, headers={"X-CSRF-Token": csrf})
        assert answer.json() == {"retried": 1}
    pushed = wait_text(clean, "o-fails", f"事件编号：{number}", timeout=30)
    assert "类别" in pushed
    assert event(number).text == text and [m.status for m in _stored("o-fails")] == ["done"]
    side.close()


def test_a_short_message_stored_first_gets_no_number_but_its_answer_pushed(clean, slow_classifier):
    clean.configure(reply_budget=1.0)
    slow_classifier["delay"] = 2.5
    side = clean.wechat()
    reply = side.text("o-slow-2", "在吗")
    assert "已收到您的消息" in reply.text and not NUMBER.search(reply.text), reply.text
    wait_text(clean, "o-slow-2", "", timeout=30)
    with db.session_factory()() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
    side.close()


def test_a_flood_beyond_capacity_is_answered_within_the_budget_and_every_report_stored_once(
        clean, slow_classifier):
    """More concurrent reports than the threads can handle in time: those that waited in the queue
    for a third of the budget are stored first; every answer arrives before WeChat gives up."""
    clean.configure(reply_budget=1.5)
    slow_classifier["delay"] = 0.4
    replies: dict[int, tuple[float, str]] = {}
    lock = threading.Lock()

    def send(i: int) -> None:
        side = clean.wechat()
        started = time.monotonic()
        text = side.text(f"o-flood-{i}", f"东亭小区{i}栋门口垃圾堆了三天没人清运").text
        with lock:
            replies[i] = (time.monotonic() - started, text)
        side.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(replies) == 40
    slowest = max(s for s, _ in replies.values())
    assert slowest < 4.5, slowest
    numbers = [number_in(text) for _, text in replies.values()]
    assert len(set(numbers)) == 40
    stored_first = [n for _, text in replies.values() if "稍后推送" in text for n in [number_in(text)]]
    assert stored_first, "40 reports at once on 8 threads with a 0.4 s classifier must overrun"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with db.session_factory()() as session:
            found = set(session.scalars(select(Event.number).where(Event.number.in_(numbers))))
            waiting = session.scalar(select(func.count()).select_from(InboxMessage)
                                     .where(InboxMessage.status != "done"))
        if found == set(numbers) and not waiting:
            break
        time.sleep(0.5)
    assert found == set(numbers)
    with db.session_factory()() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 40


def test_while_a_flood_is_on_every_message_is_stored_first_and_then_the_full_path_returns(clean):
    """A flood (messages stored first because they waited for a thread) puts every message on the
    store-first path, free thread or not: a handler on the full path would take the interpreter from
    the answers. A second after the last such message, the full path answers again."""
    from bot.core.runtime import current
    from bot.wechat.inbox import PRESSED, Load

    load = current().component(Load)
    side = clean.wechat()
    load.stored_first()  # as the webhook does when a message waited for a thread
    first = side.text("o-flood-mode", "幸福小区3栋楼道灯坏了，晚上黑漆漆的").text
    assert "分类与派单结果稍后推送" in first, first
    number = number_in(first)
    time.sleep(PRESSED + 0.3)
    second = side.text("o-flood-mode-2", "东亭小区5栋门口垃圾堆了三天没人清运").text
    assert "已受理" in second and "稍后推送" not in second, second
    wait_text(clean, "o-flood-mode", f"事件编号：{number}", timeout=30)  # the first, completed
    side.close()


def test_messages_stored_first_at_the_same_moment_share_one_insert_and_one_commit(clean, monkeypatch):
    """A flood stores its messages first together (bot.wechat.together): one INSERT and one commit
    for the messages that arrive while a batch is being written, each still answered with its own
    number only after its row is committed; WeChat's retries get the same answer."""
    from bot.core.runtime import current
    from bot.wechat import together
    from bot.wechat.inbox import Load
    from tests.support.sql import statements

    clean.configure(wechat_aes_key=AES_KEY)
    real = together.store_many
    sizes: list[int] = []

    def slow_store_many(messages):  # a slow database: what piles up meanwhile is the next batch
        sizes.append(len(messages))
        time.sleep(0.3)
        return real(messages)

    monkeypatch.setattr(together, "store_many", slow_store_many)
    current().component(Load).stored_first()  # a flood is on: every message is stored first
    with statements(whole=True) as seen:
        replies = _at_once(clean, 24, "o-together-{i}", "水果湖小区{i}栋楼道灯坏了，晚上黑漆漆的",
                           aes=True, msg_ids=770000)
    assert len(replies) == 24 and all("分类与派单结果稍后推送" in r for r in replies.values()), replies
    numbers = {number_in(r) for r in replies.values()}
    assert len(numbers) == 24
    inserts = [s for s in seen if s.startswith("INSERT INTO inbox_message")]
    assert len(inserts) == len(sizes) < 24, (len(inserts), sizes)  # one statement per batch
    assert max(sizes) > 1
    rows = _stored("o-together-3")
    assert len(rows) == 1 and rows[0].number == number_in(replies[3])
    side = clean.wechat(aes=True)  # WeChat's retry of one of them: the same answer, nothing new
    again = side.text("o-together-3", "水果湖小区3栋楼道灯坏了，晚上黑漆漆的", msg_id=770003).text
    assert again == replies[3]
    side.close()
    wait_text(clean, "o-together-5", f"事件编号：{number_in(replies[5])}", timeout=60)  # completed later
    _settled()


def test_a_batch_stored_first_that_fails_together_is_stored_one_message_at_a_time(clean, monkeypatch):
    """One message the batch cannot write (here: every batched INSERT fails) costs the others
    nothing: each is stored on its own and answered with its number."""
    from bot.core.runtime import current
    from bot.wechat import together
    from bot.wechat.inbox import Load

    def broken(*args, **kwargs):
        raise RuntimeError("the batched INSERT failed")

    monkeypatch.setattr(together, "insert_ignore_many", broken)
    current().component(Load).stored_first()
    replies = _at_once(clean, 8, "o-alone-{i}", "东亭小区{i}栋门口垃圾堆了三天没人清运")
    assert all("分类与派单结果稍后推送" in r for r in replies.values()), replies
    assert len({number_in(r) for r in replies.values()}) == 8
    assert len(_stored("o-alone-2")) == 1
    _settled()


def test_a_database_that_cannot_be_reached_fails_the_batch_at_once_and_a_retry_is_stored(clean, monkeypatch):
    """A connection failure is nobody's message: the batch is not tried again one message at a time
    (a database that does not answer would hold every answer for a connect timeout each); every
    message gets the quick apology, and its claim is released so WeChat's retry is handled."""
    from sqlalchemy.exc import OperationalError

    from bot.core.runtime import current
    from bot.wechat import together
    from bot.wechat.inbox import Load

    real = together.insert_ignore_many
    down = {"on": True}
    alone: list[str] = []

    def unreachable(*args, **kwargs):
        if down["on"]:
            raise OperationalError("INSERT", {}, Exception("connection timeout expired"))
        return real(*args, **kwargs)

    real_store_one = inbox.store_one  # taken before the patch: the spy must not call itself

    def store_one(incoming, view):
        alone.append(incoming.key)
        return real_store_one(incoming, view)

    monkeypatch.setattr(together, "insert_ignore_many", unreachable)
    monkeypatch.setattr(together.inbox, "store_one", store_one)
    current().component(Load).stored_first()
    replies = _at_once(clean, 6, "o-unreachable-{i}", "东亭小区{i}栋门口垃圾堆了三天没人清运", msg_ids=660000)
    assert all("系统繁忙" in r for r in replies.values()), replies
    assert alone == []
    down["on"] = False
    current().component(Load).stored_first()
    side = clean.wechat()  # WeChat's retry of one of them, the database back
    again = side.text("o-unreachable-2", "东亭小区2栋门口垃圾堆了三天没人清运", msg_id=660002).text
    side.close()
    assert "分类与派单结果稍后推送" in again, again
    _settled()
