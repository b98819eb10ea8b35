"""The dispatcher's admin page (指挥调度台) in a real browser: Playwright driving Debian's chromium.

Log in, filter, open an event, assign it, close it, see a chart render, a CSRF-less POST refused, a
resident's <script> shown as text, a viewer unable to act, a dispatcher unable to see another
street's events. Screenshots go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from bot.core import db
from bot.core.db import utcnow
from bot.domain.models import Event, LoginSession, Worker
from tests.support.admin import PASSWORD, browser_login, logged_in
from tests.support.admin_site import RESIDENT, WANG_FANG, ZHANG_MIN
from tests.support.browser import require_chromium, shot
from tests.support.chat import event

expect = require_chromium().expect


def test_login_page_and_wrong_password(browser, site):
    browser.goto(f"{site.app_url}/admin/events")
    browser.wait_for_url(re.compile(r".*/admin/login\?next=.*"))
    browser.fill("input[name=username]", "disp1")
    browser.fill("input[name=password]", "wrong-password")
    browser.click("button[type=submit]")
    assert "用户名或密码错误" in browser.inner_text(".error")
    shot(browser, "login")
    browser.fill("input[name=password]", PASSWORD)
    browser.click("button[type=submit]")
    browser.wait_for_url(re.compile(r".*/admin/events$"))
    assert "事件列表" in browser.inner_text("h1")

    with db.session_scope() as session:  # the session expires: back to the login page
        for login_session in session.scalars(select(LoginSession)):
            login_session.expires_at = utcnow() - timedelta(seconds=1)
    browser.goto(f"{site.app_url}/admin/dashboard")
    browser.wait_for_url(re.compile(r".*/admin/login\?next=/admin/dashboard$"))

    site.configure(login_attempts_per_10min=2)  # the login rate limit, through the form
    for _ in range(2):
        browser.fill("input[name=username]", "viewer1")
        browser.fill("input[name=password]", "not-the-password")
        browser.click("button[type=submit]")
        assert "用户名或密码错误" in browser.inner_text(".error")
    browser.fill("input[name=password]", PASSWORD)
    browser.click("button[type=submit]")
    assert "次数过多" in browser.inner_text(".error")

    with httpx.Client(base_url=site.app_url) as other_site:  # login CSRF: a foreign Origin is refused
        answer = other_site.post("/admin/login", data={"username": "disp1", "password": PASSWORD},
                                 headers={"Origin": "http://evil.example"})
        assert answer.status_code == 403 and "wl_session" not in answer.cookies


def test_filter_open_assign_and_close(browser, site, wx):
    numbers = site.numbers
    browser_login(browser, site, "disp1")
    rows = browser.locator("#event-list tbody tr[data-number]")
    assert rows.count() == 4
    shot(browser, "list")

    browser.select_option("select[name=category]", "property")  # 物业管理: the stairway light
    browser.click("#filters button[type=submit]")
    browser.wait_for_url(re.compile(r".*category=property.*"))
    listed = [rows.nth(i).get_attribute("data-number") for i in range(rows.count())]
    assert listed == [numbers["light"]], listed

    browser.fill("input[name=q]", numbers["evil"])  # search by number
    browser.select_option("select[name=category]", "")
    browser.click("#filters button[type=submit]")
    browser.wait_for_url(re.compile(r".*q=WL.*"))
    assert [rows.nth(i).get_attribute("data-number") for i in range(rows.count())] == [numbers["evil"]]

    browser.goto(f"{site.app_url}/admin/events?q=13987654321")  # by phone (dispatchers only)
    assert [rows.nth(i).get_attribute("data-number") for i in range(rows.count())] == [numbers["light"]]

    browser.click(f"a:text('{numbers['light']}')")
    browser.wait_for_url(re.compile(rf".*/admin/events/{numbers['light']}$"))
    assert "楼道灯" in browser.inner_text("#event-text")
    assert "13987654321" not in browser.inner_text("#event-text")  # masked for every role …
    browser.click("#reveal-phone")  # … until a dispatcher reveals it (audited: test_desk_pages.py)
    expect(browser.locator("#event-phone")).to_have_text("13987654321")
    assert "13987654321" in browser.inner_text("#event-text")
    assert browser.inner_text("#classification .rule").strip()  # the rule that fired is explained
    assert "已派单" in browser.inner_text("#event-status")  # routed to 王芳 on report
    photo = browser.locator(".photos img")
    expect(photo).to_have_attribute("src", f"/admin/media/{site.photo_id}")
    assert photo.evaluate("img => img.complete && img.naturalWidth") == 1  # served to a logged-in dispatcher

    zhang = browser.locator("#form-assign select option", has_text="张敏").get_attribute("value")
    browser.select_option("#form-assign select", zhang)
    browser.fill("#form-assign input[name=note]", "王芳休假，改派张敏")
    browser.click("#form-assign button[type=submit]")
    expect(browser.locator("#timeline")).to_contain_text("改派张敏")
    assert event(numbers["light"]).worker.name == "张敏"
    shot(browser, "detail", full_page=True)

    assert "已接单" in wx.text(ZHANG_MIN, f"接单 {numbers['light']}").text
    wx.text(ZHANG_MIN, f"办结 {numbers['light']} 已更换楼道灯泡")
    assert event(numbers["light"]).status == "completed"
    browser.reload()
    assert "已办结" in browser.inner_text("#event-status")
    browser.fill("#form-close input[name=note]", "电话回访，灯已亮")
    browser.click("#form-close button[type=submit]")
    expect(browser.locator("#event-status")).to_contain_text("已结案")
    assert event(numbers["light"]).status == "closed"
    assert "核查结案" in browser.inner_text("#timeline")
    assert not browser.js_errors


def test_corrections_category_grade_merge_reject(browser, site):
    numbers = site.numbers
    browser_login(browser, site, "admin1")
    browser.goto(f"{site.app_url}/admin/events/{numbers['formula']}")
    browser.select_option("#form-category select[name=category]", "facility")
    browser.fill("#form-category input[name=subcategory]", "路灯不亮")
    browser.click("#form-category button[type=submit]")
    expect(browser.locator("#timeline")).to_contain_text("调整分类")
    browser.select_option("#form-grade select[name=grade]", "B")
    browser.click("#form-grade button[type=submit]")
    expect(browser.locator("#timeline")).to_contain_text("调整等级")
    found = event(numbers["formula"])
    assert (found.category, found.subcategory, found.grade, found.flagged) == ("facility", "路灯不亮", "B", False)

    browser.fill("#form-merge input[name=target]", numbers["light"])
    browser.click("#form-merge button[type=submit]")
    expect(browser.locator("#event-status")).to_contain_text("已合并")
    assert event(numbers["formula"]).merged_into_id == event(numbers["light"]).id

    browser.goto(f"{site.app_url}/admin/events/{numbers['evil']}")
    browser.click("#form-reject button[type=submit]")  # the reason is required: the browser refuses
    assert event(numbers["evil"]).status != "rejected"
    browser.fill("#form-reject input[name=reason]", "非本辖区事项")
    browser.click("#form-reject button[type=submit]")
    expect(browser.locator("#event-status")).to_contain_text("不予受理")
    assert event(numbers["evil"]).status == "rejected"


def test_resident_script_is_shown_as_text(browser, site):
    number = site.numbers["evil"]
    browser_login(browser, site, "disp1")
    assert "<script>" in browser.inner_text(f"tr[data-number='{number}'] .text")
    browser.goto(f"{site.app_url}/admin/events/{number}")
    text = browser.inner_text("#event-text")
    assert "<script>window.__xss=1;alert('xss')</script>" in text
    assert "<img src=x onerror=alert(2)>" in text
    assert browser.evaluate("window.__xss") is None
    assert browser.locator("#event-text script, #event-text img").count() == 0
    assert browser.dialogs == []
    shot(browser, "detail-script")


def test_dashboard_chart_renders(browser, site, wx):
    number = site.numbers["light"]  # one whole loop, so that the three rates have figures
    wx.text(WANG_FANG, f"接单 {number}")
    wx.text(WANG_FANG, f"办结 {number} 已修好")
    with logged_in(site, "disp1") as (client, csrf):
        assert client.post(f"/api/events/{number}/close", headers={"X-CSRF-Token": csrf}).status_code == 200
    wx.text(RESIDENT, "满意")
    assert event(number).status == "rated"
    browser_login(browser, site, "disp1")
    browser.goto(f"{site.app_url}/admin/dashboard")
    browser.wait_for_selector("#chart-categories canvas")
    browser.wait_for_selector("#chart-trend canvas")
    painted = browser.evaluate("""() => {
        const c = document.querySelector('#chart-categories canvas');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return {w: c.width, h: c.height, painted: n};
    }""")
    assert painted["w"] > 100 and painted["h"] > 100 and painted["painted"] > 1000, painted
    browser.wait_for_selector("#chart-rates canvas")  # the three-rate charts load from /api/rates
    browser.wait_for_selector("#chart-ranking canvas")
    shot(browser, "dashboard", full_page=True)
    assert not browser.js_errors


def test_csrf_less_post_refused(browser, site):
    number = site.numbers["light"]
    browser_login(browser, site, "disp1")
    worker_id = str(event(number).worker_id)
    answer = browser.request.post(f"{site.app_url}/api/events/{number}/escalate", data={"reason": "no token"})
    assert answer.status == 403
    with logged_in(site, "disp1") as (client, csrf):
        refused = client.post(f"/api/events/{number}/assign", json={"worker_id": worker_id})
        assert refused.status_code == 403
        wrong = client.post(f"/api/events/{number}/grade", json={"grade": "C"}, headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
        ok = client.post(f"/api/events/{number}/grade", json={"grade": "C"}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200, ok.text
        logout = client.post("/admin/logout")
        assert logout.status_code == 403
    assert event(number).grade == "C"
    with db.session_factory()() as session:
        found = session.scalar(select(Event).where(Event.number == number))
        assert [t.action for t in found.timeline].count("escalate") == 0


def test_viewer_cannot_act(browser, site):
    number = site.numbers["light"]
    browser_login(browser, site, "viewer1")
    browser.goto(f"{site.app_url}/admin/events/{number}")
    assert browser.locator("#actions form").count() == 0
    assert "只读" in browser.inner_text("#readonly-note")
    assert "13987654321" not in browser.inner_text("body")  # phones masked for viewers
    assert "139****4321" in browser.inner_text("#event-text")
    csrf = next(c["value"] for c in browser.context.cookies() if c["name"] == "wl_csrf")
    for path, body in [("assign", {"worker_id": "1"}), ("close", {}), ("grade", {"grade": "D"}),
                       ("reject", {"reason": "x"}), ("message", {"text": "hi"})]:
        answer = browser.request.post(f"{site.app_url}/api/events/{number}/{path}", data=body,
                                      headers={"X-CSRF-Token": csrf})
        assert answer.status == 403, (path, answer.status)
    browser.goto(f"{site.app_url}/admin/people")
    assert browser.locator("button.bind-code").count() == 0
    assert "13800000003" not in browser.inner_text("body")
    assert event(number).status == "assigned"


def test_street_dispatcher_sees_only_its_street(browser, site):
    numbers = site.numbers
    browser_login(browser, site, "zhongnan")
    rows = browser.locator("#event-list tbody tr[data-number]")
    assert [rows.nth(i).get_attribute("data-number") for i in range(rows.count())] == [numbers["other"]]
    browser.goto(f"{site.app_url}/admin/events/{numbers['light']}")
    assert "未找到" in browser.inner_text("main")
    answer = browser.request.get(f"{site.app_url}/api/events/{numbers['light']}")
    assert answer.status == 404
    listed = browser.request.get(f"{site.app_url}/api/events").json()
    assert [e["number"] for e in listed["events"]] == [numbers["other"]]
    assert all("幸福" not in g["full_name"] for g in browser.request.get(f"{site.app_url}/api/grids").json())
    assert browser.request.get(f"{site.app_url}/admin/media/{site.photo_id}").status == 404
    browser.goto(f"{site.app_url}/admin/people")
    assert "王芳" not in browser.inner_text("body") and "孙丽" in browser.inner_text("body")
    with httpx.Client(base_url=site.app_url) as anonymous:
        assert anonymous.get(f"/admin/media/{site.photo_id}").status_code == 303  # → the login page
        assert anonymous.get("/api/events").status_code == 401

    browser_login(browser, site, "shuiguohu")  # the other street's dispatcher: the reverse
    listed = browser.request.get(f"{site.app_url}/api/events?per_page=100").json()
    assert numbers["other"] not in [e["number"] for e in listed["events"]] and listed["total"] == 3
    csrf = next(c["value"] for c in browser.context.cookies() if c["name"] == "wl_csrf")
    answer = browser.request.post(f"{site.app_url}/api/events/{numbers['other']}/reject",
                                  data={"reason": "x"}, headers={"X-CSRF-Token": csrf})
    assert answer.status == 404


def test_rules_page_validates_and_tests_a_sentence(browser, site):
    browser_login(browser, site, "disp1")
    browser.goto(f"{site.app_url}/admin/rules")
    original = browser.input_value("#rules-text")
    assert "[" in original
    browser.fill("#test-text", "小区电梯坏了，困在里面")
    browser.click("#test-form button[type=submit]")
    browser.wait_for_selector("#test-result:not([hidden])")
    assert browser.inner_text("#test-result [data-k=category_label]") == "物业管理"
    assert browser.inner_text("#test-result [data-k=rule]").strip() not in ("", "—")
    shot(browser, "rules")

    browser.click("#tab-toml")  # the advanced view: the TOML itself
    browser.fill("#rules-text", original + "\n[[[ broken\n")
    browser.click("#rules-save")
    expect(browser.locator("#rules-msg")).not_to_be_empty()
    message = browser.inner_text("#rules-msg")
    assert "原规则继续生效" in message and re.search(r"line \d+|第\s*\d+\s*行", message), message
    browser.fill("#test-text", "门口的路灯不亮了")  # the old rules are still in force
    browser.click("#test-form button[type=submit]")
    expect(browser.locator("#test-result [data-k=category_label]")).to_have_text("市政设施")


def test_people_bind_code_and_worker_edit(browser, site):
    browser_login(browser, site, "disp1")
    browser.goto(f"{site.app_url}/admin/people")
    assert "幸福家园网格" in browser.inner_text("#grids")
    row = browser.locator("#workers tr", has_text="王芳")
    row.locator("button.bind-code").click()
    code = row.locator(".code").inner_text()
    assert re.match(r"^\d{6}", code), code
    shot(browser, "people")
    row.locator("summary").click()
    row.locator("input[name=name]").fill("王芳芳")
    row.locator("button[type=submit]").click()
    browser.wait_for_selector("#workers tr:has-text('王芳芳')")
    with db.session_factory()() as session:
        assert session.scalar(select(Worker.name).where(Worker.phone == "13800000003")) == "王芳芳"


def test_screenshots_dir_is_ignored():
    assert "tests/screenshots/" in (Path(__file__).parents[2] / ".gitignore").read_text()
