"""The conversation keeps its thread, over the real webhook (issue 15): context before
classification, numbered lists and number tails, chasers, complaints and 转人工 to the dispatcher
queue, confirmations before anything irreversible, and ratings that describe the problem again."""

from __future__ import annotations

from sqlalchemy import func, select

from admin.auth import add_user
from bot.core import db
from bot.domain.models import DispatchRequest, Event, OutboxMessage, Resident
from bot.events import casework
from tests.support.admin import PASSWORD, logged_in
from tests.support.chat import NUMBER, event, number_in, wait_text

WANG_FANG = "o-demo-worker-3"  # 幸福家园网格
DISPATCHER = "o-queue-dispatcher"


def events_of(openid: str) -> list[str]:
    with db.session_factory()() as session:
        return list(session.scalars(select(Event.number).join(Resident, Event.reporter_id == Resident.id)
                                    .where(Resident.openid == openid).order_by(Event.id)))


def outbox_texts(openid: str) -> list[str]:
    with db.session_factory()() as session:
        return [p["text"] for p in session.scalars(select(OutboxMessage.payload).where(OutboxMessage.openid == openid))]


def requests() -> list[DispatchRequest]:
    with db.session_factory()() as session:
        return list(session.scalars(select(DispatchRequest).order_by(DispatchRequest.id)))


def close(number: str) -> None:
    with db.session_scope() as session:
        from bot.events import dispatch

        found = session.scalar(select(Event).where(Event.number == number))
        casework.complete(session, found.worker, found, "已修好")
        dispatch.close(session, found, actor_name="disp")


# -- context before classification --

def test_a_location_right_after_a_report_attaches_to_it(wx):
    number = number_in(wx.text("o-ctx1", "路灯不亮了好几天了，晚上走路很危险").text)
    wx.text("o-ctx1", "跳过")  # the place question is skipped …
    wx.text("o-ctx1", "跳过")  # … and the photo
    reply = wx.location("o-ctx1", 30.5472, 114.3421, "中北路")  # then the location comes after all
    assert number in reply.text and "刘洋" in reply.text
    assert events_of("o-ctx1") == [number]
    assert event(number).grid.name == "中北路网格"


def test_a_short_text_and_a_photo_after_a_report_are_supplements(wx):
    number = number_in(wx.text("o-ctx2", "幸福小区3栋楼道灯坏了").text)  # the place is known: asks for a photo
    more = wx.text("o-ctx2", "就在2单元门口")
    assert "已补充到事件" in more.text and number in more.text
    photo = wx.image("o-ctx2")
    assert number in photo.text
    assert events_of("o-ctx2") == [number]
    assert [e.action for e in event(number).timeline].count("supplement") == 2


def test_another_problem_after_a_report_is_a_new_event(wx):
    first = number_in(wx.text("o-ctx3", "幸福小区3栋楼道灯坏了").text)
    second = number_in(wx.text("o-ctx3", "翠柳小区门口垃圾堆了三天没人清运").text)
    assert first != second and events_of("o-ctx3") == [first, second]


def test_a_reply_to_a_numbered_list_selects_from_it(wx):
    first = number_in(wx.text("o-ctx4", "东亭小区垃圾桶满了没人清运").text)
    wx.text("o-ctx4", "跳过")
    wx.text("o-ctx4", "查询")
    picked = wx.text("o-ctx4", "1")
    assert picked.text.startswith(f"事件 {first}")
    assert events_of("o-ctx4") == [first]


def test_a_numbers_tail_means_the_residents_own_event(wx):
    number = number_in(wx.text("o-ctx5", "东亭小区路面塌陷一个坑").text)
    tail = number.rsplit("-", 1)[1]
    reply = wx.text("o-ctx5", tail)
    assert reply.text.startswith(f"事件 {number}")
    assert events_of("o-ctx5") == [number]
    assert "未找到" in wx.text("o-ctx5-other", tail).text  # someone else's tail: nothing


def test_too_short_or_ambiguous_is_asked_back_never_an_event(wx):
    for text in ("还是坏的", "好的", "东亭小区北门", "1"):
        reply = wx.text("o-ctx6", text)
        assert not NUMBER.search(reply.text), (text, reply.text)
    assert "东亭小区" in wx.text("o-ctx6", "东亭小区北门").text
    assert events_of("o-ctx6") == []


# -- chasers --

def test_a_chaser_answers_with_status_and_limit_writes_催办_and_pushes_the_handler(wx, clean):
    clean.configure(dispatcher_openids=DISPATCHER)
    number = number_in(wx.text("o-chase", "幸福小区3栋楼道灯坏了").text)
    wx.text("o-chase", "跳过")
    reply = wx.text("o-chase", "怎么还没人来处理？")
    assert number in reply.text and "已派单" in reply.text and "王芳" in reply.text and "响应时限" in reply.text
    assert "已为您催办" in reply.text
    assert event(number).timeline[-1].action == "urge"
    assert any("居民催办" in t and number in t for t in outbox_texts(WANG_FANG))
    assert requests() == []
    second = wx.text("o-chase", "到底管不管")
    assert "转调度员" in second.text
    assert [(r.kind, r.event_id is not None) for r in requests()] == [("chaser", True)]
    assert any("调度队列·催办" in t for t in outbox_texts(DISPATCHER))
    assert events_of("o-chase") == [number]


def test_a_chaser_with_nothing_open_creates_nothing(wx):
    assert "没有处理中的事件" in wx.text("o-chase2", "什么时候来").text
    assert events_of("o-chase2") == []


# -- complaints and 转人工 --

def test_a_complaint_about_the_worker_goes_to_the_dispatcher_queue_never_to_the_worker(wx, clean):
    clean.configure(dispatcher_openids=DISPATCHER)
    number = number_in(wx.text("o-complain", "幸福小区3栋楼道灯坏了").text)
    before = len(outbox_texts(WANG_FANG))
    reply = wx.text("o-complain", "我要投诉网格员")
    assert "投诉" in reply.text and "不会转给被投诉" in reply.text and number in reply.text
    assert events_of("o-complain") == [number]
    assert [(r.kind, r.text) for r in requests()] == [("complaint", "我要投诉网格员")]
    assert len(outbox_texts(WANG_FANG)) == before  # nothing about it reaches the worker concerned
    assert any("调度队列·投诉" in t for t in outbox_texts(DISPATCHER))


def test_转人工_reaches_a_dispatcher_who_answers_from_the_admin_page(wx, clean):
    clean.configure(dispatcher_openids=DISPATCHER)
    with db.session_scope() as session:
        add_user(session, "queue1", PASSWORD, "dispatcher")
    reply = wx.text("o-human", "转人工")
    assert "转接调度员" in reply.text
    more = wx.text("o-human", "我想问一下低保怎么申请")
    assert "已转给调度员" in more.text and not NUMBER.search(more.text)
    assert events_of("o-human") == []
    with logged_in(clean, "queue1") as (client, csrf):
        queued = client.get("/api/queue").json()["requests"]
        assert len(queued) == 1 and "低保" in queued[0]["text"] and queued[0]["kind_label"] == "转人工"
        answered = client.post(f"/api/queue/{queued[0]['id']}/answer", json={"text": "请带身份证到社区服务站办理"},
                               headers={"X-CSRF-Token": csrf})
        assert answered.status_code == 200, answered.text
        assert client.get("/api/queue").json()["requests"] == []
        page = client.get("/admin/queue")
        assert page.status_code == 200 and "调度队列" in page.text
    wait_text(clean, "o-human", "请带身份证到社区服务站办理")


# -- confirmations --

def test_bare_撤销_shows_the_event_and_asks_for_确认撤销(wx):
    number = number_in(wx.text("o-cancel", "东亭小区路灯坏了").text)
    asked = wx.text("o-cancel", "撤销")
    assert number in asked.text and "确认撤销" in asked.text
    assert event(number).status != "cancelled"
    done = wx.text("o-cancel", "确认撤销")
    assert "已撤销" in done.text and event(number).status == "cancelled"


def test_an_event_being_handled_is_cancelled_only_after_confirmation_and_the_worker_is_told(wx, clean):
    number = number_in(wx.text("o-cancel2", "幸福小区3栋楼道灯坏了").text)
    assert "已接单" in wx.text(WANG_FANG, f"接单 {number}").text
    asked = wx.text("o-cancel2", f"撤销 {number}")
    assert "确认撤销" in asked.text and "通知处理人员" in asked.text
    kept = wx.text("o-cancel2", "不撤销")
    assert "保留" in kept.text and event(number).status == "accepted"
    wx.text("o-cancel2", f"撤销 {number}")
    done = wx.text("o-cancel2", "确认撤销")
    assert "已通知处理人员" in done.text and event(number).status == "cancelled"
    assert any("事件撤销" in t and number in t for t in outbox_texts(WANG_FANG))


def test_bare_接单_with_several_tasks_lists_them_and_asks_which(wx):
    first = number_in(wx.text("o-task1", "幸福小区3栋楼道灯坏了").text)
    second = number_in(wx.text("o-task2", "幸福小区5栋门口垃圾没人清运").text)
    listed = wx.text(WANG_FANG, "接单")
    assert first in listed.text and second in listed.text and "哪一条" in listed.text
    assert "响应时限" in listed.text
    assert event(first).status == event(second).status == "assigned"
    index = 1 if listed.text.index(first) < listed.text.index(second) else 2
    taken = wx.text(WANG_FANG, str(index))
    assert f"已接单 {first}" in taken.text
    assert event(first).status == "accepted" and event(second).status == "assigned"
    assert f"已接单 {second}" in wx.text(WANG_FANG, "接单").text  # one left: no question


def test_bare_办结_with_several_tasks_asks_which(wx):
    first = number_in(wx.text("o-task3", "幸福小区3栋楼道灯坏了").text)
    second = number_in(wx.text("o-task4", "幸福小区5栋门口垃圾没人清运").text)
    for number in (first, second):
        wx.text(WANG_FANG, f"接单 {number}")
    listed = wx.text(WANG_FANG, "办结 已处理好")
    assert "哪一条" in listed.text
    done = wx.text(WANG_FANG, second)
    assert f"已办结 {second}" in done.text and event(second).status == "completed"
    assert event(second).timeline[-1].note == "已处理好"


def test_我的任务_shows_each_deadline(wx):
    wx.text("o-task5", "幸福小区3栋楼道灯坏了")
    listing = wx.text(WANG_FANG, "我的任务")
    assert "响应时限" in listing.text


# -- ratings --

def test_不满意_describing_the_problem_again_rates_the_event_just_closed(wx):
    number = number_in(wx.text("o-rate", "幸福小区3栋电梯坏了").text)
    wx.text("o-rate", "跳过")
    close(number)
    reply = wx.text("o-rate", "不满意 电梯还是坏的")
    assert "重办" in reply.text and number in reply.text
    assert events_of("o-rate") == [number]
    saved = event(number)
    assert saved.status == "assigned" and saved.reopen_count == 1


def test_bare_不满意_asks_what_is_wrong_and_the_answer_goes_to_the_event(wx):
    number = number_in(wx.text("o-rate2", "幸福小区3栋电梯坏了").text)
    wx.text("o-rate2", "跳过")
    close(number)
    asked = wx.text("o-rate2", "不满意")
    assert "哪里还不满意" in asked.text
    answered = wx.text("o-rate2", "电梯还是坏的")
    assert number in answered.text and events_of("o-rate2") == [number]
    assert "电梯还是坏的" in event(number).timeline[-1].note


# -- binding --

def test_bare_绑定_asks_for_the_code(wx):
    with db.session_scope() as session:
        code = casework.issue_bind_code(session, "13800000006")
    assert "6位绑定码" in wx.text("o-new-worker", "绑定").text
    assert "绑定成功" in wx.text("o-new-worker", code).text


def test_the_residents_reply_carries_the_time_limits(wx):
    reply = wx.text("o-limits", "幸福小区3栋楼道灯坏了")
    assert "响应时限" in reply.text and "办结时限" in reply.text
    with db.session_factory()() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1


def test_thanks_after_a_report_is_no_supplement_and_a_report_saying_投诉_is_a_report(wx, clean):
    number = number_in(wx.text("o-thanks", "幸福小区3栋楼道灯坏了").text)
    assert "不客气" in wx.text("o-thanks", "谢谢").text
    assert [e.action for e in event(number).timeline].count("supplement") == 0
    other = wx.text("o-park", "投诉东亭小区门口乱停车")
    assert "交通停车" in other.text and requests() == []


def test_a_service_asked_for_right_after_a_report_is_an_order(wx):
    number = number_in(wx.text("o-svc", "幸福小区3栋楼道灯坏了").text)
    reply = wx.text("o-svc", "想找人上门磨刀")
    assert "服务单号" in reply.text or "便民服务" in reply.text, reply.text
    assert [e.action for e in event(number).timeline].count("supplement") == 0


def test_anything_else_while_asked_to_confirm_keeps_the_event_and_is_read_on_its_own(wx):
    number = number_in(wx.text("o-moved", "东亭小区路灯坏了").text)
    assert "确认撤销" in wx.text("o-moved", "撤销").text
    listing = wx.text("o-moved", "我的事件")  # not an answer: the question is dropped
    assert number in listing.text and "您最近的事件" in listing.text
    late = wx.text("o-moved", "确认")  # a late 确认 no longer cancels anything
    assert "已撤销" not in late.text and event(number).status != "cancelled"


def test_a_second_跳过_after_the_questions_is_no_supplement(wx, clean):
    number = number_in(wx.text("o-skip2", "幸福小区5栋门口的垃圾三天没人清运了").text)  # asks for a photo
    wx.text("o-skip2", "跳过")
    again = wx.text("o-skip2", "跳过")  # the resident skips once more, out of habit
    assert "已补充" not in again.text and "尽快处理" in again.text
    assert [e.action for e in event(number).timeline].count("supplement") == 0


def test_确认撤销_with_nothing_to_confirm_says_how_to_cancel(wx, clean):
    first = number_in(wx.text("o-conf2", "幸福小区3栋楼道灯坏了").text)
    wx.text("o-conf2", "跳过")
    second = number_in(wx.text("o-conf2", "幸福小区5栋门口垃圾没人清运").text)
    listed = wx.text("o-conf2", "撤销")
    assert first in listed.text and second in listed.text
    answer = wx.text("o-conf2", "确认撤销")  # a list was shown, not one event: nothing to confirm yet
    assert "回复序号" in answer.text and "请多说几句" not in answer.text
    assert event(first).status == event(second).status == "assigned"
    bare = wx.text("o-conf3", "确认撤销")  # nothing asked at all
    assert "撤销 编号" in bare.text and "请多说几句" not in bare.text


def test_bare_接单_with_only_tasks_in_hand_says_there_is_nothing_to_accept(wx, clean):
    number = number_in(wx.text("o-task6", "幸福小区3栋楼道灯坏了").text)
    wx.text(WANG_FANG, f"接单 {number}")
    answer = wx.text(WANG_FANG, "接单")
    assert "没有待接单的任务" in answer.text and "我的任务" in answer.text
