"""Time limits on events and supervision (督办), with a controllable clock: `sweep(now=…)`."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.core import db
from bot.core.scheduler import Scheduler
from bot.domain.models import Event, OutboxMessage, SupervisionNotice
from bot.events import supervision
from bot.events.intake import Report, report
from bot.timelimits import policy, rounds
from tests.support.chat import event as load

SH = ZoneInfo("Asia/Shanghai")
LIMITS = '{"A": {"respond": "1h", "resolve": "3h"}, "B": {"respond": "2h", "resolve": "6h"}}'
WORKER = "o-demo-worker-3"  # 王芳, 幸福家园网格
DISPATCHER = "o-command-centre"


@pytest.fixture
def limits(clean):
    clean.configure(time_limits=LIMITS, dispatcher_openids=DISPATCHER)
    return clean


def new_event(text: str = "幸福小区3栋楼道灯坏了") -> tuple[str, datetime]:
    with db.session_scope() as session:
        event = report(session, Report(openid="o-sup-resident", text=text)).event
        return event.number, event.created_at


def pushes(openid: str, pattern: str = "") -> list[str]:
    with db.session_factory()() as session:
        texts = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.openid == openid))
        return [p["text"] for p in texts if re.search(pattern, p["text"])]


def sweep(at: datetime) -> int:
    return supervision.sweep(db.session_factory(), now=at)


def test_report_gets_due_times_from_its_grade(limits):
    number, created = new_event()
    event = load(number)
    assert event.grade == "A"
    assert event.respond_due_at == created + timedelta(hours=1)
    assert event.resolve_due_at == created + timedelta(hours=3)
    assert event.respond_remind_at == created + timedelta(minutes=48)
    assert event.next_check_at == event.respond_remind_at


def test_reminder_then_duban_then_automatic_escalation(limits):
    number, created = new_event()
    assert sweep(created + timedelta(minutes=30)) == 0
    assert sweep(created + timedelta(minutes=49)) == 1
    assert pushes(WORKER, "即将超时")
    assert sweep(created + timedelta(minutes=49)) == 0  # each notice once
    assert len(pushes(WORKER, "即将超时")) == 1

    assert sweep(created + timedelta(minutes=61)) == 1
    event = load(number)
    assert event.overdue and event.overdue_count == 1 and event.grade == "A"
    assert "督办" in event.timeline[-1].note and event.timeline[-1].actor == "system"
    assert pushes(WORKER, "督办") and pushes(DISPATCHER, "督办")

    assert sweep(created + timedelta(minutes=121)) == 1
    event = load(number)
    assert event.grade == "B" and event.unit.startswith("street:") and event.deadline_round == 1
    escalation = event.timeline[-1]
    assert escalation.action == "escalate" and escalation.actor_name == "系统" and "自动升级" in escalation.note
    assert pushes(DISPATCHER, "自动升级")
    # the new round runs on grade B's limits from the escalation
    assert event.respond_due_at == event.clock_started_at + timedelta(hours=2)
    assert event.overdue_count == 0


def test_accepting_in_time_stops_response_supervision(limits, wx):
    number, created = new_event()
    with db.session_scope() as session:
        from bot.events import casework

        event = session.scalar(select(Event).where(Event.number == number))
        casework.accept(session, event.worker, event)
    assert sweep(created + timedelta(minutes=70)) == 0
    assert not pushes(WORKER, "即将超时|督办")
    assert sweep(created + timedelta(minutes=145)) == 1  # 80 % of the 3 h resolve limit
    assert "办结" in pushes(WORKER, "即将超时")[0]


def test_what_came_due_while_down_fires_at_the_next_sweep(limits):
    number, created = new_event()
    # the service was down for 5 hours: the stale reminder is skipped, 督办 and escalation happen
    fired = sweep(created + timedelta(hours=5))
    assert fired >= 2
    event = load(number)
    assert event.grade == "B" and event.overdue
    assert not pushes(WORKER, "即将超时")
    assert pushes(WORKER, "督办")


def test_scheduler_catches_up_at_start_and_only_the_leader_runs_jobs(env):
    from bot.core.store import get_store

    # an earlier test's `clean` flushed the store: wait until the running service holds the lock again
    deadline = time.monotonic() + 10
    while get_store().r.get("wl:lock:scheduler-leader") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    ran, asked = threading.Event(), threading.Event()
    scheduler = Scheduler(env.runtime)
    real_is_leader = scheduler.is_leader

    def is_leader():
        asked.set()
        return real_is_leader()

    scheduler.is_leader = is_leader
    scheduler.every(3600, lambda _runtime: ran.set(), "catch-up-test", at_start=True)
    scheduler.start()
    try:
        assert asked.wait(5)  # the hourly job was tried right at start, not an hour later
        # the running service's scheduler holds the leader lock: this second one must not run jobs
        assert not ran.wait(0.5)
        assert real_is_leader() is False
    finally:
        scheduler.shutdown()


def test_two_sweepers_fire_each_notice_once(limits):
    created = [new_event(f"幸福小区{i}栋楼道灯坏了")[1] for i in range(8)]
    at = max(created) + timedelta(minutes=61)
    barrier = threading.Barrier(2)
    results = []

    def run():
        barrier.wait()
        results.append(sweep(at))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session_factory()() as session:
        notices = session.scalar(select(func.count()).select_from(SupervisionNotice))
    assert sum(results) == notices == 16  # a reminder and a 督办 for each of the 8 events
    assert len(pushes(WORKER, "督办")) == 8 and len(pushes(DISPATCHER, "督办")) == 8


def resolve_due(openid: str, text: str, grade: str, start: datetime) -> datetime:
    """The resolve due time of a new event of `grade` whose clock starts at `start`."""
    with db.session_scope() as session:
        event = report(session, Report(openid=openid, text=text)).event
        event.grade = grade
        rounds.start_round(event, start, new_round=False)
        return event.resolve_due_at


def test_working_day_limits_across_national_day(clean):
    start = datetime(2026, 9, 30, 10, 0, tzinfo=SH)
    resolve = resolve_due("o-holiday", "东亭小区路灯不亮", "B", start)
    expected = policy.due(start, "3wd")
    assert resolve == expected
    assert resolve.astimezone(SH).date() == datetime(2026, 10, 10).date()  # the 调休 Saturday counts


def test_fifteen_working_days_from_28_december_get_a_due_date(clean):
    start = datetime(2026, 12, 28, 10, 0, tzinfo=SH)
    due = resolve_due("o-newyear", "东亭小区危房需要鉴定", "D", start)
    assert due.astimezone(SH).year == 2027 and due > start + timedelta(days=15)


def test_overdue_flag_and_due_times_in_the_api(limits, wx):
    from admin.auth import add_user
    from tests.support.admin import login

    number, created = new_event()
    sweep(created + timedelta(minutes=61))
    with db.session_scope() as session:
        add_user(session, "sup-viewer", "passw0rd!", "viewer")
    client, _ = login(limits, "sup-viewer")
    detail = client.get(f"/api/events/{number}").json()
    assert detail["overdue"] is True
    assert detail["respond_due_at"] and detail["resolve_due_at"]
