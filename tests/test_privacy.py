"""Personal data is masked by one rule (bot.domain.privacy) wherever it is shown: an ID-card number,
a landline and an e-mail address a resident typed reach neither a viewer's screen, nor the 台账,
nor the monthly workbook, nor a volunteer's offer, nor the showcase, nor Open311 — while a
dispatcher still sees (and searches by) the phone numbers needed to call back.

Also the rule itself, and the vocabulary's words (numbers, grades, rating words, local time).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

import nlp
from admin.auth import add_user
from bot.core import db
from bot.core.db import utcnow
from bot.domain import vocabulary
from bot.domain.models import Event
from bot.domain.privacy import for_reader, mask_name, mask_phone, mask_text
from bot.reports.workbook import write_report
from tests.test_main_loop import login, wait_text

ID_CARD, ID_MASKED = "42010619900101123X", "420106********123X"
MOBILE, MOBILE_MASKED = "13912345678", "139****5678"
LANDLINE, LANDLINE_MASKED = "027-87654321", "027-****4321"
EMAIL, EMAIL_MASKED = "zhang.san@example.com", "z***@example.com"
RAW = (ID_CARD, "19900101", MOBILE, "87654321", EMAIL)  # no part of them may show through
REPORT = (f"幸福小区3栋楼道灯坏了，身份证{ID_CARD}，电话{MOBILE}，座机{LANDLINE}，邮箱{EMAIL}，请尽快修")
RESIDENT, VOLUNTEER = "o-privacy-resident", "o-demo-volunteer-1"  # 周红 is pre-bound by the demo data


# ----------------------------------------------------------------------------- the rule


def test_mask_text_masks_identity_and_contacts():
    assert mask_text(REPORT) == (f"幸福小区3栋楼道灯坏了，身份证{ID_MASKED}，电话{MOBILE_MASKED}，"
                                 f"座机{LANDLINE_MASKED}，邮箱{EMAIL_MASKED}，请尽快修")
    assert mask_text("身份证号420106199001011234。") == "身份证号420106********1234。"
    assert mask_text("手机 +86 139 1234 5678 或 139-1234-5678") == "手机 +86 139****5678 或 139****5678"
    assert mask_text("区号0710-3456789") == "区号0710-****6789"
    assert mask_text(None) == "" and mask_text("") == ""


def test_contacts_kept_for_those_who_call_back_but_never_the_id_card():
    shown = mask_text(REPORT, keep_contacts=True)
    assert ID_MASKED in shown and ID_CARD not in shown
    assert MOBILE in shown and LANDLINE in shown and EMAIL in shown


@pytest.mark.parametrize("text", [
    "事件 WL20261123-0042 已办结", "wl20261123-0042", "2026-11-23 09:30", "20261123", "2026年11月23日",
    "维修费 1380 元", "共计 13800.50 元", "¥12,000", "押金 200000 元", "拨打 12345 热线", "幸福小区3栋2单元501室",
    "订单号 9876543210", "坐标 30.5572,114.3501",
])
def test_numbers_that_are_not_personal_data_are_left_alone(text):
    assert mask_text(text) == text


def test_phone_fields_and_names():
    assert mask_phone(MOBILE) == MOBILE_MASKED and mask_phone(LANDLINE) == LANDLINE_MASKED
    assert mask_phone("(027) 8765 4321") == "027****4321"  # any other shape: first 3 and last 4 digits
    assert mask_phone("110") == "****" and mask_phone(None) is None and mask_phone("") == ""
    assert mask_name("周红") == "周*" and mask_name("欧阳娜娜") == "欧***" and mask_name("") == "志愿者"


def test_for_reader_leaves_empty_values_as_they_are():
    text, phone = for_reader(keep_contacts=False)
    assert text(None) is None and phone(None) is None and text(REPORT) == mask_text(REPORT)
    assert phone(MOBILE) == MOBILE_MASKED
    text, phone = for_reader(keep_contacts=True)
    assert text(None) is None and phone(MOBILE) == MOBILE and ID_CARD not in text(REPORT)


# ----------------------------------------------------------------------------- the vocabulary


def test_numbers_are_found_formatted_and_recognised():
    key = vocabulary.day_key(datetime(2026, 11, 23, 9, 30))
    assert vocabulary.format_number(key, 42) == "WL20261123-0042"
    assert vocabulary.find_number("补充 wl20261123-0042 楼道很黑") == "WL20261123-0042"
    assert vocabulary.find_number("没有编号") is None
    assert vocabulary.is_number(" WL20261123-0042 ") and not vocabulary.is_number("WL20261123-042")


def test_grades_route_upwards_with_their_labels():
    assert vocabulary.GRADE_CODES == ("A", "B", "C", "D")
    assert [vocabulary.next_grade(g) for g in vocabulary.GRADE_CODES] == ["B", "C", "D", None]
    assert vocabulary.GRADE_TITLES["A"] == "A 简易" and vocabulary.GRADE_TITLES["D"] == "D 疑难"
    assert vocabulary.UNIT_LABELS["B"] == "街道职能部门" and vocabulary.UNIT_KIND_LABELS["city"] == "市指挥中心"


def test_rating_words_come_from_nlp_and_agree_with_its_classifier():
    for word in vocabulary.REPLY_WORDS:  # every chat rating word means what nlp reads it as
        label = nlp.classify(word).rating
        assert vocabulary.RATING_SCALE[vocabulary.rating_value(word)] == label, word
    assert vocabulary.rating_value("不太满意") == "unsatisfied" and vocabulary.rating_value("非常满意") == "satisfied"
    number, word, comment = vocabulary.RATING_REPLY.match("WL20261123-0042 不满意，灯还是不亮").groups()
    assert (number, word, comment) == ("WL20261123-0042", "不满意", "灯还是不亮")
    assert vocabulary.RATING_LABELS["unrated"] == "未评价"


def test_local_time_is_the_service_time_zone(clean):
    moment = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert vocabulary.local_iso(moment) == "2026-11-23T09:30:00+08:00"
    assert vocabulary.local_text(moment) == "11-23 09:30"
    assert vocabulary.local_text(moment, vocabulary.MINUTE) == "2026-11-23 09:30"
    assert vocabulary.local_text(None) == "" and vocabulary.local_iso(None) is None
    assert vocabulary.local_naive(moment) == datetime(2026, 11, 23, 9, 30)


# ----------------------------------------------------------------------------- everywhere it is shown


@pytest.fixture
def staff(clean):
    with db.session_scope() as session:
        add_user(session, "dispatcher1", "passw0rd!", "dispatcher")
        add_user(session, "viewer1", "passw0rd!", "viewer")
    clean.open_window(RESIDENT, VOLUNTEER)
    return clean


def _assert_masked(shown: str, *, contacts: bool = True) -> None:
    assert ID_CARD not in shown and "19900101" not in shown and ID_MASKED in shown
    if contacts:
        for raw in RAW:
            assert raw not in shown, raw
        assert MOBILE_MASKED in shown and LANDLINE_MASKED in shown and EMAIL_MASKED in shown


def test_a_report_is_masked_on_every_screen_export_and_api(wx, staff, tmp_path):
    reply = wx.text(RESIDENT, REPORT).text
    number = vocabulary.find_number(reply)
    assert number, reply
    with db.session_scope() as session:  # an overdue event, so the monthly workbook lists its text
        event = session.scalar(select(Event).where(Event.number == number))
        event.respond_due_at = utcnow() - timedelta(hours=1)
        assert ID_CARD in event.text  # stored as the resident wrote it

    viewer, _ = login(staff, "viewer1")
    _assert_masked(viewer.get(f"/api/events/{number}").json()["text"])
    listed = viewer.get("/api/events").json()["events"]
    _assert_masked(next(e["text"] for e in listed if e["number"] == number))
    _assert_masked(viewer.get(f"/admin/events/{number}").text)
    html = viewer.get("/admin/events").text  # the list shows the text's first 60 characters
    assert number in html and ID_MASKED in html and not any(raw in html for raw in RAW)

    ledger = viewer.get("/api/events.xlsx")
    assert ledger.status_code == 200
    rows = list(load_workbook(io.BytesIO(ledger.content)).active.iter_rows(values_only=True))
    [row] = [r for r in rows[1:] if r[0] == number]
    _assert_masked(" ".join(str(c) for c in row if c))

    out = tmp_path / "report.xlsx"
    with db.session_factory()() as session:
        write_report(session, vocabulary.local_text(utcnow(), vocabulary.MONTH), out)
    overdue = list(load_workbook(out)["超期督办"].iter_rows(values_only=True))
    [row] = [r for r in overdue[1:] if r[0] == number]
    _assert_masked(" ".join(str(c) for c in row if c))

    public = httpx.get(f"{staff.app_url}/open311/v2/requests.json", timeout=10).json()
    [item] = [i for i in public if i["service_request_id"] == number]
    _assert_masked(item["description"])
    _assert_masked(httpx.get(f"{staff.app_url}/open311/v2/requests/{number}.xml", timeout=10).text)

    # A dispatcher calls the resident back: contacts whole, the ID-card number still masked.
    dispatcher, _ = login(staff, "dispatcher1")
    seen = dispatcher.get(f"/api/events/{number}").json()["text"]
    _assert_masked(seen, contacts=False)
    assert MOBILE in seen and LANDLINE in seen and EMAIL in seen
    assert number in dispatcher.get("/admin/events", params={"q": MOBILE}).text  # search by the full phone
    found = dispatcher.get("/api/events", params={"q": MOBILE}).json()["events"]
    assert [e["number"] for e in found] == [number]
    assert viewer.get("/api/events", params={"q": MOBILE}).json()["events"] == []  # a viewer cannot probe


def test_an_order_note_is_masked_in_the_offer_the_api_and_never_reaches_the_showcase(wx, staff):
    reply = wx.text(RESIDENT, f"我要磨刀，翠柳村3栋，身份证{ID_CARD}，电话{MOBILE}").text
    number = vocabulary.find_number(reply)
    assert number, reply
    offer = wait_text(staff, VOLUNTEER, number)  # offered to matching volunteers: masked
    assert ID_MASKED in offer and MOBILE_MASKED in offer and ID_CARD not in offer and MOBILE not in offer

    viewer, _ = login(staff, "viewer1")
    note = viewer.get(f"/api/orders/{number}").json()["note"]
    assert ID_MASKED in note and MOBILE_MASKED in note and ID_CARD not in note

    assert "接单成功" in wx.text(VOLUNTEER, f"抢单 {number}").text
    assert number in wx.text(VOLUNTEER, f"完成 {number} 已磨好").text
    assert "感谢您的评价" in wx.text(RESIDENT, f"{number} 满意").text
    html = httpx.get(f"{staff.app_url}/showcase", timeout=10).text
    assert "磨刀" in html and "周*" in html  # the order is published …
    assert ID_CARD not in html and "19900101" not in html and MOBILE not in html and RESIDENT not in html
