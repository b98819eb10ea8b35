"""The five orders (五单) over HTTP: 点单 → 派单/抢单 → 接单 → 完成 → 评单 → 晒单, hours and points,
the offer timeout, 退单, the dispatcher's order API, and the volunteer roster import."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import select

from admin.auth import add_user
from bot.core import db
from bot.core.db import utcnow
from bot.domain.models import Event, Order, PointsEntry, Worker
from bot.orders import orders
from tests.support.admin import login
from tests.support.chat import NUMBER, bind, texts, wait_text

RESIDENT, ZHOU, SUN, WU = "o-order-resident", "o-demo-volunteer-1", "o-sun-wei", "o-wu-li"


def order(number: str) -> Order:
    with db.session_factory()() as session:
        return session.scalar(select(Order).where(Order.number == number))


@pytest.fixture
def crew(wx, clean):
    with db.session_scope() as session:
        add_user(session, "dispatcher1", "passw0rd!", "dispatcher")
        add_user(session, "viewer1", "passw0rd!", "viewer")
    assert "绑定成功" in bind(wx, SUN, "13800000012")  # 孙伟: 磨刀|家电维修|水电小修, 翠柳一网格
    assert "绑定成功" in bind(wx, WU, "13800000013")  # 吴丽: 理发|陪同就医|…, 幸福家园网格
    clean.open_window(RESIDENT, ZHOU, SUN, WU)  # 周红 is pre-bound by the demo data
    return clean


def place_order(wx, text: str = "我要磨刀，翠柳村3栋，家里两把菜刀钝了") -> tuple[str, str]:
    reply = wx.text(RESIDENT, text).text
    found = NUMBER.search(reply)
    assert found, reply
    return found.group(0), reply


def grab_at_once(env, number: str, *openids: str) -> dict[str, str]:
    """Several volunteers send 抢单 at the same moment, each over their own connection."""
    barrier = threading.Barrier(len(openids))
    replies: dict[str, str] = {}

    def grab(openid: str) -> None:
        side = env.wechat()
        try:
            barrier.wait(timeout=10)
            replies[openid] = side.text(openid, f"抢单 {number}").text
        finally:
            side.close()

    threads = [threading.Thread(target=grab, args=(o,)) for o in openids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return replies


def test_five_orders_from_chat_to_showcase(wx, crew):
    number, reply = place_order(wx)
    assert "磨刀" in reply and "2 位志愿者" in reply, reply
    for volunteer in (ZHOU, SUN):
        offer = wait_text(crew, volunteer, number)
        assert "抢单" in offer and "翠柳" in offer
    assert not any(number in t for t in texts(crew, WU))  # no skill → not offered

    replies = grab_at_once(crew, number, ZHOU, SUN)
    winners = [o for o, text in replies.items() if "接单成功" in text]
    losers = [o for o, text in replies.items() if "已被其他志愿者接单" in text]
    assert len(winners) == 1 and len(losers) == 1, replies
    winner, loser = winners[0], losers[0]
    wait_text(crew, loser, "已被接单")
    saved = order(number)
    assert saved.status == "accepted" and saved.volunteer.openid == winner
    name = saved.volunteer.name
    assert name in wait_text(crew, RESIDENT, "已接单")
    assert "已被其他志愿者接单" in wx.text(loser, f"抢单 {number}").text  # late: still taken

    done = wx.text(winner, "完成 已磨好两把菜刀").text  # no number: the volunteer's most recent order
    assert number in done and "0.5 小时" in done, done
    assert "照片已附到服务单" in wx.image(winner).text
    assert "已磨好" in wait_text(crew, RESIDENT, "服务完成")

    thanks = wx.text(RESIDENT, "满意 志愿者很热心").text
    assert "感谢您的评价" in thanks and number in thanks
    saved = order(number)
    assert saved.status == "rated" and saved.rating == "satisfied" and saved.public
    assert "已评价过" in wx.text(RESIDENT, f"{number} 满意").text

    page = httpx.get(f"{crew.app_url}/showcase", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert "磨刀" in html and "满意" in html and "翠柳" in html
    assert f"{name[0]}*" in html and name not in html  # masked like 周*
    assert "菜刀钝了" not in html and "热心" not in html and RESIDENT not in html  # no free text, no resident
    assert saved.photos[0].url in html

    with db.session_factory()() as session:
        credits = list(session.scalars(select(PointsEntry)))
    assert [(c.hours, c.points) for c in credits] == [(0.5, 0.5)]
    mine = wx.text(winner, "我的服务").text
    assert "累计服务 1 次" in mine and "志愿时长 0.5 小时" in mine and number in mine


def test_unaccepted_order_times_out_to_the_dispatcher(wx, crew):
    number, _ = place_order(wx, "点单 磨刀 翠柳村2栋")
    assert order(number).status == "offered"
    with db.session_scope() as session:
        assert orders.expire_offers(session, utcnow() + timedelta(minutes=10)) == 0
    with db.session_scope() as session:
        assert orders.expire_offers(session, utcnow() + timedelta(minutes=31)) == 1
    saved = order(number)
    assert saved.status == "requested" and saved.volunteer_id is None
    last = saved.timeline[-1]
    assert last.action == "timeout" and last.actor == "system" and "退回调度员" in last.note
    wait_text(crew, RESIDENT, "调度员")
    assert "不能接单" in wx.text(ZHOU, f"抢单 {number}").text  # back with the dispatcher now

    client, csrf = login(crew, "dispatcher1")
    queue = client.get("/api/orders", params={"status": "requested"}).json()
    assert [o["number"] for o in queue["orders"]] == [number]
    assigned = client.post(f"/api/orders/{number}/assign", headers={"X-CSRF-Token": csrf},
                           json={"volunteer_phone": "13800000011", "note": "周红熟悉这户"})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "assigned" and assigned.json()["volunteer"]["name"] == "周红"
    wait_text(crew, ZHOU, "派单")
    assert "已被其他志愿者接单" in wx.text(SUN, f"接单 {number}").text
    assert "接单成功" in wx.text(ZHOU, "接单").text
    assert order(number).status == "accepted"
    actions = [t["action"] for t in client.get(f"/api/orders/{number}").json()["timeline"]]
    assert actions == ["order", "offer", "timeout", "assign", "accept"]


def test_give_back_offers_the_others(wx, crew):
    number, _ = place_order(wx)
    assert "接单成功" in wx.text(SUN, f"抢单 {number}").text
    reply = wx.text(SUN, "退单 临时有事").text
    assert "已退单" in reply and "1 位志愿者" in reply
    saved = order(number)
    assert saved.status == "offered" and saved.volunteer_id is None
    assert "接单成功" in wx.text(ZHOU, "抢单").text
    assert "未找到该服务单" in wx.text(SUN, f"完成 {number} 好了").text  # no longer his
    assert order(number).volunteer.openid == ZHOU


def test_menu_click_numbered_choice_and_place_question(wx, crew):
    menu = wx.event(RESIDENT, "CLICK", "SERVICE").text
    assert "1. 磨刀" in menu and "陪同就医" in menu
    reply = wx.text(RESIDENT, "8 周三上午去省人民医院复查").text  # 陪同就医; the resident's grid is unknown
    number = NUMBER.search(reply).group(0)
    assert "陪同就医" in reply and "哪个小区" in reply
    assert order(number).status == "requested"
    placed = wx.text(RESIDENT, "幸福家园5栋").text
    assert "1 位志愿者" in placed
    saved = order(number)
    assert saved.status == "offered" and saved.grid.name == "幸福家园网格" and "复查" in saved.note
    wait_text(crew, WU, number)
    assert "1. 磨刀" in wx.text(RESIDENT, "点单").text


def test_plain_words_order_a_service_but_public_problems_stay_events(wx, crew):
    number, reply = place_order(wx, "能不能派人来帮我家老人修下水管")
    assert "水电小修" in reply
    assert order(number) is not None
    with db.session_factory()() as session:
        assert session.scalar(select(Event).where(Event.number == number)) is None
    wx.text(RESIDENT, "跳过")
    event_reply = wx.text(RESIDENT, "幸福小区3栋楼道灯坏了，晚上黑漆漆的").text
    event_number = NUMBER.search(event_reply).group(0)
    assert "事件编号" in event_reply and order(event_number) is None


def test_rating_goes_to_the_most_recent_of_order_and_event(wx, crew):
    number, _ = place_order(wx)
    wx.text(ZHOU, f"抢单 {number}")
    wx.text(ZHOU, "完成 好了")
    event_number = NUMBER.search(wx.text(RESIDENT, "幸福小区3栋楼道灯坏了，晚上黑漆漆的").text).group(0)
    wx.text(RESIDENT, "跳过")
    wx.text(RESIDENT, "跳过")
    assert "绑定成功" in bind(wx, "o-wang-fang", "13800000003")
    wx.text("o-wang-fang", f"接单 {event_number}")
    wx.text("o-wang-fang", f"办结 {event_number} 已更换灯泡")
    client, csrf = login(crew, "dispatcher1")
    assert client.post(f"/api/events/{event_number}/close", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert event_number in wx.text(RESIDENT, "基本满意").text  # the event closed later: it is rated first
    assert number in wx.text(RESIDENT, "满意 不公开").text  # then the order
    saved = order(number)
    assert saved.rating == "satisfied" and not saved.public
    assert "磨刀" not in httpx.get(f"{crew.app_url}/showcase", timeout=10).text  # opted out


def test_the_accepting_volunteer_can_reach_the_resident(wx, crew):
    """接单: the volunteer gets the resident's number to call; the resident hears what happens next."""
    number, _ = place_order(wx, "点单 磨刀 翠柳村2栋 电话13912345678")
    assert "139****5678" in wait_text(crew, SUN, "抢单")  # offered to many: masked
    assert "接单成功" in wx.text(SUN, f"抢单 {number}").text
    push = wait_text(crew, SUN, "【接单成功】")
    assert "居民电话：13912345678" in push and "拨打" in push and f"完成 {number}" in push
    told = wait_text(crew, RESIDENT, "【已接单】")
    assert "孙伟" in told and "139****5678" in told and "13912345678" not in told
    assert "评价" in told

    quiet, _ = place_order(wx, "点单 磨刀 翠柳村5栋")  # no number left: the volunteer goes by the place
    assert "接单成功" in wx.text(SUN, f"抢单 {quiet}").text
    assert "未留电话" in wait_text(crew, SUN, f"【接单成功】{quiet}")
    assert "按您填写的地点上门" in wait_text(crew, RESIDENT, f"【已接单】您的服务单 {quiet}")


def test_order_api_guards(wx, crew):
    number, _ = place_order(wx, "点单 磨刀 翠柳村2栋 电话13912345678")
    anonymous = httpx.Client(base_url=crew.app_url, timeout=10)
    assert anonymous.get(f"/api/orders/{number}").status_code == 401
    client, csrf = login(crew, "dispatcher1")
    body = {"volunteer_name": "孙伟"}
    assert client.post(f"/api/orders/{number}/assign", json=body).status_code == 403  # no CSRF token
    assert client.post(f"/api/orders/{number}/assign", headers={"X-CSRF-Token": "forged"}, json=body).status_code == 403
    viewer, viewer_csrf = login(crew, "viewer1")
    seen = viewer.get(f"/api/orders/{number}")
    assert seen.status_code == 200 and "139****5678" in seen.json()["note"]
    assert viewer.post(f"/api/orders/{number}/assign", headers={"X-CSRF-Token": viewer_csrf},
                       json=body).status_code == 403
    assert viewer.post(f"/api/orders/{number}/cancel", headers={"X-CSRF-Token": viewer_csrf},
                       json={"reason": "x"}).status_code == 403
    assert order(number).status == "offered" and order(number).volunteer_id is None
    grid_worker = client.post(f"/api/orders/{number}/assign", headers={"X-CSRF-Token": csrf},
                              json={"volunteer_phone": "13800000004"})  # 赵磊 is a grid worker
    assert grid_worker.status_code == 400
    assert client.get(f"/api/orders/{number}").json()["note"].endswith("139****5678")  # masked for every role
    revealed = client.post(f"/api/orders/{number}/reveal", headers={"X-CSRF-Token": csrf}, json={"reason": "回电"})
    assert revealed.json()["note"].endswith("13912345678")  # revealed on purpose, and audited
    assert client.get("/api/orders", params={"status": "bogus"}).status_code == 400
    ok = client.post(f"/api/orders/{number}/assign", headers={"X-CSRF-Token": csrf}, data=body)
    assert ok.status_code == 200 and ok.json()["volunteer"]["name"] == "孙伟"
    # the offer push to the volunteers masked the resident's phone; the assigned volunteer sees it
    assert "139****5678" in wait_text(crew, ZHOU, "抢单")
    assert "13912345678" in wait_text(crew, SUN, "【派单】")


# -- the roster import --

def write_csv(path, rows):
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_volunteers_import_csv_all_or_nothing_and_idempotent(clean, tmp_path):
    from tests.support.cli import cli

    header = ["姓名", "手机号", "技能", "网格"]
    bad = write_csv(tmp_path / "bad.csv", [
        header,
        ["钱多多", "13900000001", "磨刀|修伞", "翠柳村"],
        ["", "12345", "", "不存在小区"],
        ["李强", "13800000002", "理发", "东亭二网格"],  # a grid worker's phone
    ])
    result = cli("volunteers", "import", str(bad))
    assert result.returncode == 1
    assert "第3行" in result.stderr and "手机号格式不正确" in result.stderr and "不存在小区" in result.stderr
    assert "第4行" in result.stderr and "网格员" in result.stderr and "第2行" not in result.stderr
    with db.session_factory()() as session:
        assert session.scalar(select(Worker).where(Worker.phone == "13900000001")) is None

    good = write_csv(tmp_path / "good.csv", [
        header,
        ["钱多多", "13900000001", "磨刀|修伞", "翠柳村"],
        ["周红", "13800000011", "磨刀|修伞|补鞋|理发", "翠柳一网格"],
    ])
    first = cli("volunteers", "import", str(good))
    assert first.returncode == 0, first.stderr
    assert "新增志愿者 1 人" in first.stdout and "更新 1 人" in first.stdout
    again = cli("volunteers", "import", str(good))
    assert again.returncode == 0 and "新增志愿者 0 人" in again.stdout
    with db.session_factory()() as session:
        qian = session.scalar(select(Worker).where(Worker.phone == "13900000001"))
        zhou = session.scalar(select(Worker).where(Worker.phone == "13800000011"))
        assert qian.role == "volunteer" and qian.skills == "磨刀|修伞" and qian.grid.name == "翠柳一网格"
        assert zhou.skills.endswith("理发") and zhou.openid == "o-demo-volunteer-1"  # binding kept
        assert session.scalar(select(Worker).where(Worker.phone == "13900000001")).active


def test_volunteers_import_xlsx(clean, tmp_path):
    from tests.support.cli import cli

    book = Workbook()
    for row in (["姓名", "手机号", "技能", "网格"], ["郑义", 13900000002, "家电维修", "中北花园"],
                ["王五", "139000000", "家电维修", "中北花园"]):
        book.active.append(row)
    path = tmp_path / "roster.xlsx"
    book.save(path)
    bad = cli("volunteers", "import", str(path))
    assert bad.returncode == 1 and "第3行" in bad.stderr
    book.active.delete_rows(3)
    book.save(path)
    ok = cli("volunteers", "import", str(path))
    assert ok.returncode == 0, ok.stderr
    with db.session_factory()() as session:
        zheng = session.scalar(select(Worker).where(Worker.phone == "13900000002"))
        assert zheng.grid.name == "中北路网格" and zheng.skills == "家电维修"


def test_showcase_escapes_text_and_honours_a_later_opt_out(wx, crew):
    from bot.domain.models import Grid

    with db.session_scope() as session:
        session.scalar(select(Grid).where(Grid.name == "翠柳一网格")).name = "<script>alert(1)</script>"
    number, _ = place_order(wx)
    assert "接单成功" in wx.text(ZHOU, f"抢单 {number}").text
    wx.text(ZHOU, f"完成 {number} 磨好了")
    assert "感谢" in wx.text(RESIDENT, "基本满意").text
    html = httpx.get(f"{crew.app_url}/showcase", timeout=10).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "基本满意" in html and "周*" in html
    assert "不会在晒单中展示" in wx.text(RESIDENT, "不公开").text
    assert "周*" not in httpx.get(f"{crew.app_url}/showcase", timeout=10).text
    assert not order(number).public and order(number).timeline[-1].note.startswith("居民选择不公开")


def test_unsatisfied_is_flagged_not_shown_and_cancel_tells_the_volunteer(wx, crew):
    number, _ = place_order(wx)
    wx.text(SUN, f"抢单 {number}")
    wx.text(SUN, f"完成 {number} 修好了")
    reply = wx.text(RESIDENT, "不满意 刀还是钝").text
    assert "调度员跟进" in reply
    saved = order(number)
    assert saved.status == "rated" and saved.rating == "unsatisfied" and saved.flagged
    assert "孙*" not in httpx.get(f"{crew.app_url}/showcase", timeout=10).text

    second, _ = place_order(wx, "点单 修伞 翠柳村1栋")
    assert "接单成功" in wx.text(ZHOU, "抢单").text
    assert "已取消" in wx.text(RESIDENT, "取消点单").text
    assert order(second).status == "cancelled"
    wait_text(crew, ZHOU, "服务单取消")
    assert "不能" in wx.text(ZHOU, f"完成 {second} 好了").text
