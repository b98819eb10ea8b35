"""A resident's conversation, over the real webhook: report, follow-up, query, 补充, 撤销."""

from __future__ import annotations

import time

from sqlalchemy import select

from bot.core import db
from bot.domain.models import Attachment
from tests.support.chat import NUMBER, event, number_in


def test_subscribe_greets_with_menu_hint(wx):
    reply = wx.event("o-new", "subscribe")
    assert "欢迎" in reply.text and "查询" in reply.text


def test_text_report_with_place_alias_gets_number_category_and_handler(wx, clean):
    clean.open_window("o-demo-worker-3")
    reply = wx.text("o-res-1", "幸福小区3栋楼道灯坏了，晚上黑漆漆的")
    number = number_in(reply.text)
    assert "物业管理" in reply.text
    assert "王芳" in reply.text  # the grid worker of 幸福家园网格
    saved = event(number)
    assert saved.status == "assigned"
    assert saved.grid.name == "幸福家园网格"
    assert [e.action for e in saved.timeline] == ["report", "assign"]
    # the place is known, so the follow-up offers a photo, skippable
    assert "照片" in reply.text and "跳过" in reply.text
    # the worker is pushed the task through the outbox and the fake WeChat API
    pushes = clean.wait_pushes("o-demo-worker-3")
    assert number in pushes[0]["body"]["text"]["content"]


def test_report_without_place_asks_where_then_routes(wx):
    first = wx.text("o-res-2", "路灯不亮了好几天了，晚上走路很危险")
    number = number_in(first.text)
    assert "哪里" in first.text
    assert event(number).status == "reported"  # waiting in the dispatcher queue for a place
    second = wx.text("o-res-2", "东亭小区北门")
    assert number in second.text and "张敏" in second.text
    assert "照片" in second.text
    third = wx.image("o-res-2")
    assert "照片已补充" in third.text
    saved = event(number)
    assert saved.status == "assigned" and saved.grid.name == "东亭一网格"
    assert saved.place_text == "东亭小区北门"
    assert [a.kind for a in saved.attachments] == ["image"]


def test_every_follow_up_question_is_skippable(wx):
    first = wx.text("o-res-3", "下水道堵了，污水漫出来")
    number = number_in(first.text)
    skipped_place = wx.text("o-res-3", "跳过")
    assert "照片" in skipped_place.text
    skipped_photo = wx.text("o-res-3", "跳过")
    assert "尽快处理" in skipped_photo.text
    assert event(number).status == "reported"  # still with the dispatcher: nobody knows where
    after = wx.text("o-res-3", "查询")
    assert number in after.text


def test_photo_report_asks_for_a_description_and_place(wx):
    first = wx.image("o-res-4")
    number = number_in(first.text)
    assert "描述" in first.text
    second = wx.text("o-res-4", "绿化带里堆满了建筑垃圾")
    assert number in second.text and "市容环卫" in second.text
    assert "哪里" in second.text
    third = wx.text("o-res-4", "翠柳小区")
    assert "赵磊" in third.text
    saved = event(number)
    assert saved.category == "environment" and saved.grid.name == "翠柳一网格"
    assert saved.attachments[0].kind == "image" and saved.attachments[0].media_id


def test_location_report_routes_by_polygon(wx):
    first = wx.location("o-res-5", 30.5512, 114.3441, "水果湖小区东门")
    number = number_in(first.text)
    assert "陈静" in first.text  # point in the 水果湖一网格 polygon
    second = wx.text("o-res-5", "这里有人占道经营摆摊")
    assert number in second.text and "市容环卫" in second.text
    saved = event(number)
    assert saved.lat and saved.grid.name == "水果湖一网格"
    with db.session_factory()() as session:
        kinds = set(session.scalars(select(Attachment.kind).where(Attachment.event_id == saved.id)))
    assert "location" in kinds


def test_location_as_answer_to_where(wx):
    first = wx.text("o-res-6", "井盖丢了，很危险")
    number = number_in(first.text)
    second = wx.location("o-res-6", 30.5472, 114.3421, "中北路")
    assert number in second.text and "刘洋" in second.text
    assert event(number).grid.name == "中北路网格"


def test_voice_report_uses_recognition_and_empty_recognition_asks_to_type(wx):
    reply = wx.voice("o-res-7", "东亭小区有人飞线充电")
    number = number_in(reply.text)
    assert event(number).category == "safety"
    empty = wx.voice("o-res-7", "")
    assert "文字" in empty.text and not NUMBER.search(empty.text)


def test_query_shows_only_own_events(wx):
    mine = number_in(wx.text("o-alice", "东亭小区垃圾桶满了没人清运").text)
    theirs = number_in(wx.text("o-bob", "翠柳小区电梯坏了").text)
    listing = wx.text("o-alice", "我的事件")
    assert mine in listing.text and theirs not in listing.text
    detail = wx.text("o-alice", mine)
    assert mine in detail.text and "已派单" in detail.text
    peek = wx.text("o-alice", theirs)
    assert theirs not in peek.text and "未找到" in peek.text
    query_other = wx.text("o-alice", f"查询 {theirs}")
    assert "未找到" in query_other.text


def test_supplement_adds_to_timeline_and_tells_the_worker(wx, clean):
    clean.open_window("o-demo-worker-3")
    number = number_in(wx.text("o-sup", "幸福小区电梯困人了一直没人管").text)
    reply = wx.text("o-sup", f"补充 {number} 是2号电梯，物业电话打不通")
    assert "已补充" in reply.text
    saved = event(number)
    assert saved.timeline[-1].action == "supplement" and "2号电梯" in saved.timeline[-1].note
    deadline = time.monotonic() + 15  # the task push (and an urgent one) may come first
    while time.monotonic() < deadline and not any(
            "2号电梯" in p["body"]["text"]["content"] for p in clean.pushes("o-demo-worker-3", "custom")):
        time.sleep(0.05)
    assert any("2号电梯" in p["body"]["text"]["content"] for p in clean.pushes("o-demo-worker-3", "custom"))


def test_supplement_someone_elses_event_is_refused(wx):
    theirs = number_in(wx.text("o-owner", "东亭小区路面塌陷一个坑").text)
    reply = wx.text("o-intruder", f"补充 {theirs} 我来捣乱")
    assert "未找到" in reply.text
    assert all("捣乱" not in e.note for e in event(theirs).timeline)


def test_cancel_own_event(wx, clean):
    number = number_in(wx.text("o-cancel", "翠柳小区门口乱停车堵住了消防通道").text)
    reply = wx.text("o-cancel", f"撤销 {number}")
    assert "已撤销" in reply.text
    saved = event(number)
    assert saved.status == "cancelled"
    assert saved.timeline[-1].from_status == "assigned" and saved.timeline[-1].to_status == "cancelled"
    again = wx.text("o-cancel", f"撤销 {number}")
    assert "不能撤销" in again.text
    assert event(number).status == "cancelled"


def test_cancel_someone_elses_event_is_refused(wx):
    theirs = number_in(wx.text("o-victim", "东亭小区噪音扰民").text)
    reply = wx.text("o-attacker", f"撤销 {theirs}")
    assert "未找到" in reply.text
    assert event(theirs).status != "cancelled"


def test_urgent_report_gets_guidance_and_pushes_the_grids_worker(wx, clean):
    """The grid is known: its worker is alerted at once and named in the reply (the issue 15 design:
    the grid's workers when the grid is known; the duty roster only when it is not)."""
    clean.open_window("o-demo-worker-1", "o-demo-worker-2", "o-demo-worker-3")
    reply = wx.text("o-urgent", "幸福小区5栋楼道里着火了冒黑烟")
    number = number_in(reply.text)
    assert "119" in reply.text and "紧急" in reply.text
    assert "已立即通知：网格员王芳" in reply.text
    assert event(number).urgent
    pushes = clean.wait_pushes("o-demo-worker-3")
    assert any("紧急" in p["body"]["text"]["content"] for p in pushes)


def test_greeting_and_gibberish_create_no_event(wx):
    assert "欢迎" in wx.text("o-hi", "你好").text
    wx.text("o-hi", "🙂")
    wx.text("o-hi", "\u200b\u202e")
    assert "还没有" in wx.text("o-hi", "我的事件").text


def test_menu_click_query(wx):
    number = number_in(wx.text("o-menu", "东亭小区路灯坏了").text)
    reply = wx.event("o-menu", "CLICK", "QUERY")
    assert number in reply.text


def test_rate_limit_per_openid(wx, clean):
    clean.configure(rate_limit_per_minute=3)
    replies = [wx.text("o-flood", f"东亭小区垃圾第{i}次没收") for i in range(5)]
    assert sum("太频繁" in r.text for r in replies) == 2
