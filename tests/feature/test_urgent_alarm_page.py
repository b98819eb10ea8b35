"""The admin page's urgent alarm in a real browser (issue 15): a new urgent event shows within
seconds without a reload, with a banner a dispatcher must acknowledge; the queue page answers."""

from __future__ import annotations

from sqlalchemy import select

from bot.core import db
from bot.domain.models import Event, UrgentAck
from tests.support.admin import browser_login
from tests.support.browser import require_chromium, shot
from tests.support.chat import number_in, wait_text

expect = require_chromium().expect


def acknowledge_all() -> None:
    """The seeded site's own urgent event (a road collapse) was seen already."""
    with db.session_scope() as session:
        for event_id in session.scalars(select(Event.id).where(Event.urgent.is_(True))):
            session.add(UrgentAck(event_id=event_id, username="earlier"))


def test_a_new_urgent_event_raises_the_banner_until_acknowledged(browser, site, wx):
    acknowledge_all()
    browser_login(browser, site, "disp1")
    browser.set_viewport_size({"width": 1366, "height": 360})  # a list longer than the screen
    banner = browser.locator("#urgent-banner")
    expect(banner).to_be_hidden()
    number = number_in(wx.text("o-alarm-page", "幸福小区3栋楼道里着火了冒黑烟").text)
    expect(banner).to_be_visible(timeout=8000)  # polled: no reload
    expect(banner).to_be_in_viewport()  # on screen where a dispatcher looks, not at the foot of a long list
    expect(browser.locator("#urgent-text")).to_contain_text(number)
    expect(browser.locator("#urgent-text")).to_contain_text("网格员王芳")
    assert browser.evaluate("document.body.getAttribute('data-urgent')") == number
    shot(browser, "urgent-banner")
    browser.click("#urgent-ack")
    browser.wait_for_url(f"**/admin/events/{number}")
    expect(browser.locator("#urgent-banner")).to_be_hidden(timeout=8000)  # acknowledged for everyone
    assert not browser.js_errors


def test_the_queue_page_answers_a_residents_转人工(browser, site, wx):
    wx.text("o-queue-page", "转人工")
    wx.text("o-queue-page", "想咨询一下养老补贴")
    browser_login(browser, site, "disp1")
    browser.goto(f"{site.app_url}/admin/queue")
    expect(browser.locator(".queue-item")).to_contain_text("养老补贴")
    browser.fill(".queue-answer textarea", "请到社区服务站填写申请表")
    browser.click(".queue-answer button")
    expect(browser.locator(".queue-item")).to_have_count(0)
    wait_text(site, "o-queue-page", "请到社区服务站填写申请表")
    assert not browser.js_errors
