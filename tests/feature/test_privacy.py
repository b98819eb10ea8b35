"""Personal data is masked by one rule (bot.domain.privacy) wherever it is shown: an ID-card number,
a landline and an e-mail address a resident typed reach neither a viewer's screen, nor the 台账,
nor the monthly workbook, nor a volunteer's offer, nor the showcase, nor Open311 — while a
dispatcher still sees (and searches by) the phone numbers needed to call back.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from admin.auth import add_user
from bot.core import db
from bot.core.db import utcnow
from bot.domain import vocabulary
from bot.domain.models import Event, PhoneReveal
from bot.reports.workbook import write_report
from tests.support import personal_data as pii
from tests.support.admin import login
from tests.support.chat import wait_text

RESIDENT, VOLUNTEER = "o-privacy-resident", "o-demo-volunteer-1"  # 周红 is pre-bound by the demo data


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
    assert pii.ID_CARD not in shown and "19900101" not in shown and pii.ID_MASKED in shown
    if contacts:
        for raw in pii.RAW:
            assert raw not in shown, raw
        assert pii.MOBILE_MASKED in shown and pii.LANDLINE_MASKED in shown and pii.EMAIL_MASKED in shown


def test_a_report_is_masked_on_every_screen_export_and_api(wx, staff, tmp_path):
    reply = wx.text(RESIDENT, pii.REPORT).text
    number = vocabulary.find_number(reply)
    assert number, reply
    with db.session_scope() as session:  # an overdue event, so the monthly workbook lists its text
        event = session.scalar(select(Event).where(Event.number == number))
        event.respond_due_at = utcnow() - timedelta(hours=1)
        assert pii.ID_CARD in event.text  # stored as the resident wrote it

    viewer, _ = login(staff, "viewer1")
    _assert_masked(viewer.get(f"/api/events/{number}").json()["text"])
    listed = viewer.get("/api/events").json()["events"]
    _assert_masked(next(e["text"] for e in listed if e["number"] == number))
    _assert_masked(viewer.get(f"/admin/events/{number}").text)
    html = viewer.get("/admin/events").text  # the list shows the text's first 60 characters
    assert number in html and pii.ID_MASKED in html and not any(raw in html for raw in pii.RAW)

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
    assert pii.ID_CARD not in str(item) and pii.ID_MASKED not in str(item)  # keyless: no resident text at all
    staff.configure(open311_keys="k-privacy")
    keyed = httpx.get(f"{staff.app_url}/open311/v2/requests.json", params={"api_key": "k-privacy"}, timeout=10)
    [item] = [i for i in keyed.json() if i["service_request_id"] == number]
    _assert_masked(item["description"])
    _assert_masked(httpx.get(f"{staff.app_url}/open311/v2/requests/{number}.xml", params={"api_key": "k-privacy"},
                             timeout=10).text)

    # A dispatcher sees it masked too, and calls the resident back by revealing it on purpose (an
    # audited 查看完整号码): contacts whole, the ID-card number still masked.
    dispatcher, csrf = login(staff, "dispatcher1")
    _assert_masked(dispatcher.get(f"/api/events/{number}").json()["text"])
    seen = dispatcher.post(f"/api/events/{number}/reveal", headers={"X-CSRF-Token": csrf}).json()["text"]
    _assert_masked(seen, contacts=False)
    assert pii.MOBILE in seen and pii.LANDLINE in seen and pii.EMAIL in seen
    with db.session_scope() as session:
        assert [(r.username, r.target_number) for r in session.scalars(select(PhoneReveal))] == \
            [("dispatcher1", number)]
    assert number in dispatcher.get("/admin/events", params={"q": pii.MOBILE}).text  # search by the full phone
    found = dispatcher.get("/api/events", params={"q": pii.MOBILE}).json()["events"]
    assert [e["number"] for e in found] == [number]
    assert viewer.get("/api/events", params={"q": pii.MOBILE}).json()["events"] == []  # a viewer cannot probe


def test_an_order_note_is_masked_in_the_offer_the_api_and_never_reaches_the_showcase(wx, staff):
    reply = wx.text(RESIDENT, f"我要磨刀，翠柳村3栋，身份证{pii.ID_CARD}，电话{pii.MOBILE}").text
    number = vocabulary.find_number(reply)
    assert number, reply
    offer = wait_text(staff, VOLUNTEER, number)  # offered to matching volunteers: masked
    assert pii.ID_MASKED in offer and pii.MOBILE_MASKED in offer
    assert pii.ID_CARD not in offer and pii.MOBILE not in offer

    viewer, _ = login(staff, "viewer1")
    note = viewer.get(f"/api/orders/{number}").json()["note"]
    assert pii.ID_MASKED in note and pii.MOBILE_MASKED in note and pii.ID_CARD not in note

    assert "接单成功" in wx.text(VOLUNTEER, f"抢单 {number}").text
    assert number in wx.text(VOLUNTEER, f"完成 {number} 已磨好").text
    assert "感谢您的评价" in wx.text(RESIDENT, f"{number} 满意").text
    html = httpx.get(f"{staff.app_url}/showcase", timeout=10).text
    assert "磨刀" in html and "周*" in html  # the order is published …
    assert pii.ID_CARD not in html and "19900101" not in html and pii.MOBILE not in html and RESIDENT not in html
