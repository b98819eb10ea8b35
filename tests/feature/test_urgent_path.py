"""The urgent path end to end, over the real webhook (issue 15): someone is pushed within seconds
whether or not the place is known; everyone alerted may 接单 and exactly one wins; urgent time
limits with 督办; the community's duty phone; the admin page's alarm."""

from __future__ import annotations

import csv
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from bot.core import db
from bot.domain.models import Event, EventAlert, Grid, TimelineEntry, Worker
from bot.events import supervision
from bot.places import duty
from bot.places.registry import GRID_HEADER
from tests.support.admin import PASSWORD, logged_in
from tests.support.chat import event, number_in, wait_text
from tests.support.cli import cli

ZHANG_MIN, LI_QIANG, WANG_FANG = "o-demo-worker-1", "o-demo-worker-2", "o-demo-worker-3"
DISPATCHER = "o-duty-dispatcher"


def street_on_duty(*openids: str) -> None:
    """Put demo workers on 水果湖街道's duty roster."""
    with db.session_scope() as session:
        street = session.scalar(select(Grid).where(Grid.name == "水果湖街道"))
        for openid in openids:
            duty.put_on_duty(session, street, worker=session.scalar(select(Worker).where(Worker.openid == openid)))


def community_phone(name: str) -> str:
    with db.session_factory()() as session:
        return session.scalar(select(Grid.duty_phone).where(Grid.name == name))


def test_urgent_report_with_the_place_skipped_reaches_the_duty_roster_within_5_seconds(wx, clean):
    street_on_duty(ZHANG_MIN, LI_QIANG)
    clean.open_window(ZHANG_MIN, LI_QIANG)
    started = time.monotonic()
    reply = wx.text("o-faint", "我家楼下有个老人晕倒了")
    number = number_in(reply.text)
    assert "120" in reply.text
    assert "已立即通知：值班人员张敏、值班人员李强" in reply.text  # who was actually alerted, nothing more
    assert "哪里" in reply.text  # the place is still asked, but nobody waits for it
    wx.text("o-faint", "跳过")
    for openid in (ZHANG_MIN, LI_QIANG):
        pushed = wait_text(clean, openid, number, timeout=5)
        assert "紧急事件" in pushed and f"接单 {number}" in pushed
    assert time.monotonic() - started < 5
    assert event(number).status == "reported"  # no grid: nobody assigned until someone takes it


def test_with_no_roster_the_dispatchers_are_the_last_resort(wx, clean):
    clean.configure(dispatcher_openids=DISPATCHER)
    clean.open_window(DISPATCHER)
    reply = wx.text("o-faint2", "有人晕倒了不省人事")
    number = number_in(reply.text)
    assert "已立即通知：指挥中心值班调度员" in reply.text
    wait_text(clean, DISPATCHER, number, timeout=5)


def test_nobody_to_alert_is_said_plainly(wx, clean):
    reply = wx.text("o-faint3", "有人晕倒了")
    assert "暂未能联系到值班人员" in reply.text and "已同步推送" not in reply.text


def test_two_workers_accept_one_urgent_event_at_the_same_moment_exactly_one_wins(wx, clean):
    street_on_duty(ZHANG_MIN, LI_QIANG)
    clean.open_window(ZHANG_MIN, LI_QIANG)
    number = number_in(wx.text("o-faint4", "楼道里有人晕倒了").text)
    replies: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def accept(openid: str) -> None:
        side = clean.wechat()
        try:
            barrier.wait()
            replies[openid] = side.text(openid, f"接单 {number}").text
        finally:
            side.close()

    threads = [threading.Thread(target=accept, args=(o,)) for o in (ZHANG_MIN, LI_QIANG)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [o for o, r in replies.items() if "已接单紧急事件" in r]
    losers = [o for o, r in replies.items() if "已由" in r and "接单处置" in r]
    assert len(winners) == 1 and len(losers) == 1, replies
    saved = event(number)
    winner_name = {ZHANG_MIN: "张敏", LI_QIANG: "李强"}[winners[0]]
    assert saved.status == "accepted" and saved.worker.name == winner_name
    assert winner_name in replies[losers[0]]  # the loser is told who took it
    assert [e.action for e in saved.timeline].count("accept") == 1
    wait_text(clean, losers[0], "已有人接单")
    wait_text(clean, "o-faint4", winner_name)  # the resident hears who is coming


def test_gas_leak_goes_to_the_grids_worker_who_can_accept_it_with_urgent_limits(wx, clean):
    clean.open_window(WANG_FANG)
    reply = wx.text("o-gas", "幸福小区3栋楼道里有很大的煤气味")
    number = number_in(reply.text)
    saved = event(number)
    assert saved.urgent and saved.grade == "B"
    assert saved.worker.name == "王芳" and saved.status == "assigned"  # a person, not 街道职能部门
    assert saved.respond_due_at == saved.created_at + timedelta(minutes=15)  # urgent: 15 minutes
    assert "已立即通知：网格员王芳" in reply.text
    assert f"社区值班电话 {community_phone('东亭社区')}" in reply.text and "027-12345" not in reply.text
    assert "响应时限" in reply.text and "办结时限" in reply.text
    push = wait_text(clean, WANG_FANG, number)
    assert "响应时限" in push
    accepted = wx.text(WANG_FANG, f"接单 {number}")
    assert "已接单紧急事件" in accepted.text and "未找到" not in accepted.text
    assert event(number).status == "accepted"


def test_urgent_limits_are_configurable_and_supervised_on_the_same_sweep(wx, clean):
    clean.configure(time_limits='{"urgent": {"respond": "5m", "resolve": "2h"}}', dispatcher_openids=DISPATCHER)
    clean.open_window(DISPATCHER)
    number = number_in(wx.text("o-fire", "幸福小区5栋着火了").text)
    saved = event(number)
    assert saved.respond_due_at == saved.created_at + timedelta(minutes=5)
    assert saved.resolve_due_at == saved.created_at + timedelta(hours=2)
    supervision.sweep(db.session_factory(), now=saved.created_at + timedelta(minutes=6))
    after = event(number)
    assert after.overdue and "督办" in after.timeline[-1].note
    wait_text(clean, DISPATCHER, "督办")


def test_grids_import_takes_the_duty_phone_column_and_urgent_replies_give_it(wx, clean, tmp_path):
    path = tmp_path / "grids.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[*GRID_HEADER, "值班电话"],
                                  ["武昌区", "中南路街道", "丁字桥社区", "丁字桥一网格", "丁字桥小区", "周丽",
                                   "13900000001", "027-88886666"]])
    result = cli("grids", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert community_phone("丁字桥社区") == "027-88886666"
    clean.runtime.clear_caches()
    reply = wx.text("o-ding", "丁字桥小区2栋有人触电了")
    assert "社区值班电话 027-88886666" in reply.text


def test_grids_import_refuses_a_bad_duty_phone(clean, tmp_path):
    path = tmp_path / "grids.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[*GRID_HEADER, "值班电话"],
                                  ["武昌区", "中南路街道", "丁字桥社区", "丁字桥一网格", "", "", "", "打电话"]])
    result = cli("grids", "import", str(path))
    said = result.stderr + result.stdout
    assert result.returncode != 0 and "第2行" in said and "值班电话" in said


def test_admin_alarm_lists_new_urgent_events_until_acknowledged(wx, clean):
    from admin.auth import add_user

    with db.session_scope() as session:
        add_user(session, "duty1", PASSWORD, "dispatcher")
    number = number_in(wx.text("o-alarm", "幸福小区3栋着火了").text)
    with logged_in(clean, "duty1") as (client, csrf):
        listed = client.get("/api/alerts/urgent").json()["events"]
        assert [e["number"] for e in listed] == [number] and listed[0]["alerted"] == ["网格员王芳"]
        assert client.post(f"/api/alerts/urgent/{number}/ack").status_code == 403  # CSRF
        ack = client.post(f"/api/alerts/urgent/{number}/ack", headers={"X-CSRF-Token": csrf})
        assert ack.status_code == 200
        assert client.get("/api/alerts/urgent").json()["events"] == []


def test_every_alerted_person_is_recorded_once(wx, clean):
    street_on_duty(ZHANG_MIN)
    clean.open_window(WANG_FANG)
    number = number_in(wx.text("o-rec", "有人晕倒了").text)
    wx.location("o-rec", 30.5572, 114.3501, "幸福家园")  # the place comes later: the grid's worker is alerted too
    with db.session_factory()() as session:
        saved = session.scalar(select(Event).where(Event.number == number))
        names = list(session.scalars(select(EventAlert.name).where(EventAlert.event_id == saved.id)))
        supplements = session.scalar(select(func.count()).select_from(TimelineEntry).where(
            TimelineEntry.event_id == saved.id, TimelineEntry.action == "supplement"))
    assert names == ["值班人员张敏", "网格员王芳"] and supplements == 1
    assert event(number).worker.name == "王芳"
    wait_text(clean, WANG_FANG, number)


def test_the_duty_roster_is_kept_through_the_admin_api_and_used_for_urgent_reports(wx, clean):
    from admin.auth import add_user

    with db.session_scope() as session:
        add_user(session, "roster1", PASSWORD, "dispatcher")
        street_id = session.scalar(select(Grid.id).where(Grid.name == "水果湖街道"))
    with logged_in(clean, "roster1") as (client, csrf):
        h = {"X-CSRF-Token": csrf}
        added = client.post("/api/duty", json={"grid_id": street_id, "worker_phone": "13800000002"}, headers=h)
        assert added.status_code == 200, added.text
        dispatcher = client.post("/api/duty", json={"grid_id": street_id, "openid": DISPATCHER, "name": "刘调度"},
                                 headers=h)
        assert dispatcher.json()["title"] == "值班调度员"
        assert [e["name"] for e in client.get("/api/duty").json()["duty"]] == ["李强", "刘调度"]
        assert client.delete(f"/api/duty/{dispatcher.json()['id']}", headers=h).status_code == 200
        grid = client.post("/api/duty", json={"grid_id": 99999, "openid": "x", "name": "y"}, headers=h)
        assert grid.status_code == 404
    reply = wx.text("o-roster", "有人晕倒了")
    assert "已立即通知：值班人员李强。" in reply.text
