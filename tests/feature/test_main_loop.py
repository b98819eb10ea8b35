"""The main loop over HTTP: resident → the right worker → progress → check → rating (一事一评)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from admin.auth import add_user
from bot.core import db
from bot.core.db import utcnow
from bot.domain.models import Grid, Rating, Worker
from bot.events import ratings
from bot.events.casework import issue_bind_code
from tests.support.admin import login
from tests.support.chat import NUMBER, bind, event, wait_text

RESIDENT, WORKER, OTHER_WORKER = "o-loop-resident", "o-wang-fang", "o-zhao-lei"


@pytest.fixture
def people(wx, clean):
    with db.session_scope() as session:
        add_user(session, "dispatcher1", "passw0rd!", "dispatcher")
        add_user(session, "viewer1", "passw0rd!", "viewer")
        street = session.scalar(select(Grid).where(Grid.name == "水果湖街道"))
        other = Grid(name="中南路街道", level="street", parent_id=street.parent_id)
        session.add(other)
        session.flush()
        add_user(session, "zhongnan", "passw0rd!", "dispatcher", other)
    assert "绑定成功" in bind(wx, WORKER, "13800000003")  # 王芳, 幸福家园网格
    assert "绑定成功" in bind(wx, OTHER_WORKER, "13800000004")  # 赵磊, 翠柳一网格
    wx.text(RESIDENT, "你好")  # the resident's 48-hour window is open
    return clean


def report(wx, text: str = "幸福小区3栋楼道灯坏了，晚上黑漆漆的") -> str:
    reply = wx.text(RESIDENT, text)
    return NUMBER.search(reply.text).group(0)


def test_whole_loop_to_satisfied(wx, people):
    number = report(wx)
    assert "新任务" in wait_text(people, WORKER, number)
    assert "已接单" in wx.text(WORKER, "接单").text
    wait_text(people, RESIDENT, "已受理")
    assert "进展已记录" in wx.text(WORKER, f"进展 {number} 已联系物业，下午更换灯泡").text
    assert "已联系物业" in wait_text(people, RESIDENT, "处置进展")
    assert "佐证" in wx.image(WORKER).text
    wait_text(people, RESIDENT, "现场照片")
    assert "已办结" in wx.text(WORKER, "办结 已更换灯泡，恢复照明").text
    assert "已更换灯泡" in wait_text(people, RESIDENT, "已办结")
    assert event(number).status == "completed"

    client, csrf = login(people, "dispatcher1")
    detail = client.get(f"/api/events/{number}").json()
    assert detail["status"] == "completed" and detail["worker"]["name"] == "王芳"
    assert [t["action"] for t in detail["timeline"]] == ["report", "assign", "accept", "progress", "supplement",
                                                          "complete"]
    closed = client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf}, json={"note": "核查属实"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert "满意" in wait_text(people, RESIDENT, "已结案")

    thanks = wx.text(RESIDENT, "满意")
    assert "感谢" in thanks.text
    saved = event(number)
    assert saved.status == "rated" and saved.rating == "satisfied"
    again = wx.text(RESIDENT, "满意")
    assert "没有待评价" in again.text


def test_unsatisfied_reopens_once_then_flags(wx, people):
    number = report(wx)
    client, csrf = login(people, "dispatcher1")
    for word in ("接单", "办结 已修好"):
        wx.text(WORKER, f"{word.split()[0]} {number} {' '.join(word.split()[1:])}".strip())
    client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf})
    reply = wx.text(RESIDENT, "不满意 灯还是不亮")
    assert "重办" in reply.text
    saved = event(number)
    assert saved.status == "assigned" and saved.worker.name == "王芳" and saved.reopen_count == 1
    assert "灯还是不亮" in wait_text(people, WORKER, "重办")

    wx.text(WORKER, "接单")
    wx.text(WORKER, "办结 换了整个灯座")
    client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf})
    second = wx.text(RESIDENT, f"{number} 不满意 还是不行")
    assert "已标记" in second.text
    saved = event(number)
    assert saved.status == "rated" and saved.flagged and saved.reopen_count == 1
    with db.session_factory()() as session:
        values = list(session.scalars(select(Rating.value).where(Rating.event_id == saved.id).order_by(Rating.id)))
    assert values == ["unsatisfied", "unsatisfied"]


def test_worker_cannot_touch_another_workers_task(wx, people):
    number = report(wx)
    for command in (f"接单 {number}", f"办结 {number} 搞定", f"退回 {number} 不是我的", f"进展 {number} x"):
        assert "不是派给您" in wx.text(OTHER_WORKER, command).text
    assert event(number).status == "assigned"
    assert "没有待接单的任务" in wx.text(OTHER_WORKER, "接单").text


def test_return_and_reassign(wx, people):
    number = report(wx)
    assert "原因" in wx.text(WORKER, f"退回 {number}").text  # a reason is required
    assert "已退回" in wx.text(WORKER, f"退回 {number} 这是隔壁小区的问题").text
    saved = event(number)
    assert saved.status == "reported" and saved.worker is None
    client, csrf = login(people, "dispatcher1")
    response = client.post(f"/api/events/{number}/assign", headers={"X-CSRF-Token": csrf},
                           json={"worker_phone": "13800000004", "note": "改派翠柳"})
    assert response.status_code == 200, response.text
    assert response.json()["worker"]["name"] == "赵磊"
    wait_text(people, OTHER_WORKER, number)
    assert "已接单" in wx.text(OTHER_WORKER, "接单").text


def test_worker_escalates_to_street_queue(wx, people):
    number = report(wx)
    reply = wx.text(WORKER, f"上报 {number} 需要物业和城管联合处置")
    assert "B类" in reply.text
    saved = event(number)
    assert saved.grade == "B" and saved.unit.startswith("street:") and saved.status == "assigned"
    assert saved.worker is None


def test_dispatcher_api_guards(wx, people):
    number = report(wx)
    anonymous = httpx.Client(base_url=people.app_url, timeout=10)
    assert anonymous.get(f"/api/events/{number}").status_code == 401
    assert anonymous.post("/api/login", json={"username": "dispatcher1", "password": "nope"}).status_code == 401
    client, csrf = login(people, "dispatcher1")
    assert client.post(f"/api/events/{number}/escalate", json={"reason": "x"}).status_code == 403  # no CSRF
    assert client.post(f"/api/events/{number}/reject", headers={"X-CSRF-Token": csrf}).status_code == 400
    assert client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf}).status_code == 409
    viewer, viewer_csrf = login(people, "viewer1")
    assert viewer.get(f"/api/events/{number}").status_code == 200
    assert viewer.get(f"/api/events/{number}").json()["worker"]["phone"] == "138****0003"
    assert viewer.post(f"/api/events/{number}/reject", headers={"X-CSRF-Token": viewer_csrf},
                       json={"reason": "x"}).status_code == 403
    outsider, outsider_csrf = login(people, "zhongnan")
    assert outsider.get(f"/api/events/{number}").status_code == 404
    assert event(number).status == "assigned"
    rejected = client.post(f"/api/events/{number}/reject", headers={"X-CSRF-Token": csrf},
                           data={"reason": "属于私人产权，不在受理范围"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    wait_text(people, RESIDENT, "不予受理")


def test_login_is_rate_limited(people):
    client = httpx.Client(base_url=people.app_url, timeout=10)
    codes = [client.post("/api/login", data={"username": "dispatcher1", "password": "wrong"}).status_code
             for _ in range(12)]
    assert codes[:10] == [401] * 10 and codes[-1] == 429
    assert client.post("/api/login", data={"username": "dispatcher1", "password": "passw0rd!"}).status_code == 429


def test_wrong_bind_codes_are_rate_limited(wx, clean):
    replies = [wx.text("o-guesser", f"绑定 {100000 + i}").text for i in range(7)]
    assert all("无效" in r for r in replies[:5])
    assert "过多" in replies[5] and "过多" in replies[6]
    with db.session_scope() as session:
        code = issue_bind_code(session, "13800000001")
    assert "过多" in wx.text("o-guesser", f"绑定 {code}").text  # even the right code waits out the hour
    with db.session_factory()() as session:
        assert session.scalar(select(Worker.openid).where(Worker.phone == "13800000001")) != "o-guesser"


def test_a_different_problem_of_the_same_category_is_not_offered_as_a_duplicate(wx, people):
    """A neighbour who no longer answers is not 'the same problem' as a gas smell nearby, though the
    danger model puts both in 安全隐患: only the same subcategory is offered to follow."""
    gas = report(wx, "幸福小区3栋楼道里好大一股煤气味")
    other = "o-worried-neighbour"
    wx.text(other, "你好")
    reply = wx.text(other, "幸福小区3栋对门婆婆好几天没出门了 敲门也冇得反应")
    assert gas not in reply.text and "关注" not in reply.text, reply.text
    assert NUMBER.search(reply.text).group(0) != gas


def test_duplicate_report_offers_to_follow(wx, people):
    number = report(wx, "幸福小区电梯坏了，困了人")
    other = "o-neighbour"
    wx.text(other, "你好")
    offer = wx.text(other, "幸福小区的电梯又坏了")
    assert number in offer.text and "关注" in offer.text
    own = NUMBER.search(offer.text).group(0)
    assert own != number
    merged = wx.text(other, "关注")
    assert number in merged.text
    assert event(own).status == "merged"
    wx.text(WORKER, f"接单 {number}")
    wait_text(people, other, "已受理")  # the follower hears about the event's progress
    wx.text(WORKER, f"办结 {number} 已修复")
    client, csrf = login(people, "dispatcher1")
    client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf})
    assert "感谢" in wx.text(RESIDENT, "满意").text
    assert "感谢" in wx.text(other, "基本满意").text
    with db.session_factory()() as session:
        values = sorted(session.scalars(select(Rating.value).where(Rating.event_id == event(number).id)))
    assert values == ["basic", "satisfied"]


def test_patrol_report_is_assigned_to_the_worker(wx, people):
    reply = wx.text(WORKER, "巡查 幸福小区3栋门口堆放大量建筑垃圾")
    number = NUMBER.search(reply.text).group(0)
    saved = event(number)
    assert saved.source == "patrol" and saved.worker.name == "王芳" and saved.status == "assigned"
    assert "已接单" in wx.text(WORKER, "接单").text


def test_unrated_after_seven_days_is_recorded_not_satisfied(wx, people):
    number = report(wx)
    wx.text(WORKER, "接单")
    wx.text(WORKER, "办结 已处理")
    client, csrf = login(people, "dispatcher1")
    client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf})
    with db.session_scope() as session:
        assert ratings.expire_unrated(session, utcnow() + timedelta(days=6)) == 0
    with db.session_scope() as session:
        assert ratings.expire_unrated(session, utcnow() + timedelta(days=8)) == 1
    saved = event(number)
    assert saved.rating == "unrated" and saved.status == "closed"


def test_users_add_and_bind_code_commands(clean):
    from tests.support.cli import cli

    result = cli("users", "add", "chief", "--role", "admin", "--password", "longenough1")
    assert result.returncode == 0, result.stderr
    bad = cli("users", "add", "x", "--role", "king", "--password", "longenough1")
    assert bad.returncode == 1
    code = cli("bind-code", "13800000005")
    assert code.returncode == 0 and re.fullmatch(r"\d{6}\n", code.stdout)
    assert cli("bind-code", "13999999999").returncode == 1
