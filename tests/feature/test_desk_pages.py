"""The street office's day-one pages in a real browser, on the demo's three months of history: the
rates at a glance (agreeing with GET /api/rates and with the event lists behind each figure), the
orders desk and the hours ledger, the map, the audited phone reveal, the dispatcher's actions on
已评价 events, and the rules form. Screenshots go to tests/screenshots/ (git-ignored)."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from admin.glance import previous_month
from bot.core import db
from bot.demo import accounts, history
from bot.domain.models import Event, Order, PhoneReveal, PointsEntry, Rating
from bot.events.followup import second_unsatisfied
from bot.reports import rates
from nlp import reload_rules
from nlp.classifier import rules_path
from tests.support.admin import logged_in
from tests.support.browser import require_chromium, shot

expect = require_chromium().expect
DISPATCHER, VIEWER = accounts.LOGINS[0][0], accounts.LOGINS[1][0]
PASSWORD = accounts.LOGINS[0][1]
LAST_MONTH = previous_month(rates.current_month())
DEFAULT_RULES = rules_path()


@pytest.fixture
def demo(clean):
    """The demo as `weilinli demo` loads it: its logins and its history."""
    with db.session_scope() as session:
        accounts.create(session)
    with db.session_scope() as session:
        clean.history = history.load(session, base_url=clean.app_url)
    return clean


def sign_in(page, env, username: str = DISPATCHER) -> None:
    page.goto(f"{env.app_url}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/events.*"))


def api(env, username: str = DISPATCHER):
    return logged_in(env, username, PASSWORD)


def test_history_is_deterministic_and_shows_everything(demo):
    with db.session_scope() as session:
        statuses = dict(session.execute(select(Event.status, func.count()).group_by(Event.status)).all())
        categories = {c for (c,) in session.execute(select(Event.category).distinct())}
        ratings = {v for (v,) in session.execute(select(Rating.value).distinct())}
        orders = dict(session.execute(select(Order.status, func.count()).group_by(Order.status)).all())
        hours = session.scalar(select(func.sum(PointsEntry.hours)))
        events = list(session.scalars(select(Event)))
        flagged = [e.number for e in events if second_unsatisfied(e)]
        assert sum(e.overdue for e in events if e.status in Event.OPEN_STATES) > 0
        assert history.load(session) == {"skipped": True}  # idempotent
    assert set(statuses) == {"reported", "assigned", "accepted", "completed", "closed", "rated", "rejected",
                             "cancelled", "merged"}, statuses
    assert set(rates.EXCLUDED_STATUSES) <= set(statuses)
    assert categories >= {"environment", "facility", "property", "safety", "security", "dispute", "traffic",
                          "greening", "welfare", "other"}, categories
    assert ratings == {"satisfied", "basic", "unsatisfied", "unrated"}
    assert {"rated", "completed", "cancelled"} <= set(orders) and hours > 0 and flagged
    assert demo.history == {"events": sum(statuses.values()), "orders": sum(orders.values())}


def test_rates_at_a_glance_agree_with_the_api_and_the_event_lists(browser, demo):
    sign_in(browser, demo)
    with api(demo) as (client, _csrf):
        by_worker = client.get("/api/rates", params={"month": LAST_MONTH, "by": "worker"}).json()
        before = client.get("/api/rates", params={"month": previous_month(LAST_MONTH), "by": "street"}).json()
        for by in ("grid", "community", "street"):  # every grouping adds up to the same total
            total = client.get("/api/rates", params={"month": LAST_MONTH, "by": by}).json()["total"]
            assert total == by_worker["total"], by
    total = by_worker["total"]
    assert total["reported"] > 30 and total["rated"] > 10

    browser.goto(f"{demo.app_url}/admin/dashboard?month={LAST_MONTH}&by=worker")
    heads = {h.get_attribute("data-rate"): h for h in browser.locator("#headline .head").all()}
    assert heads["composite"].locator(".value").inner_text() == f"{total['composite']:.1f}"
    assert heads["satisfaction_rate"].locator(".value").inner_text() == f"{total['satisfaction_rate']:.1f}%"
    change = round(total["response_rate"] - before["total"]["response_rate"], 1)
    assert f"{change:+.1f}" in heads["response_rate"].locator(".change").inner_text()
    counts = browser.inner_text("#month-counts")
    assert f"满意 {total['satisfied']}、基本满意 {total['basic']}、不满意 {total['unsatisfied']}" in counts
    rows = browser.locator("#rank-table tbody tr")
    assert rows.count() == len(by_worker["rows"])
    for i, expected in enumerate(by_worker["rows"]):  # the page's ranking is the API's
        cells = rows.nth(i).locator("td")
        assert cells.nth(1).inner_text() == expected["name"]
        assert cells.nth(3).inner_text() == str(expected["reported"])
        assert cells.nth(7).inner_text().rstrip("*") == f"{expected['composite']:.1f}"
    shot(browser, "rates", full_page=True)

    browser.locator("#rank-table th", has_text="事件数").click()  # sortable
    shown = [int(rows.nth(i).locator("td").nth(3).inner_text()) for i in range(rows.count())]
    assert shown == sorted(shown, reverse=True)

    top = by_worker["rows"][0]
    browser.locator("#rank-table tbody tr", has=browser.locator(f"td.name:text-is('{top['name']}')")) \
        .locator("a.drill").click()  # drill down: the events behind the figure
    browser.wait_for_url(re.compile(r".*/admin/events\?.*worker=.*"))
    assert browser.inner_text("#total") == str(top["reported"])
    assert top["name"] in browser.inner_text("#drill-note")
    late = top["resolve_due"] - top["resolve_on_time"]
    browser.goto(f"{demo.app_url}/admin/events?month={LAST_MONTH}&counted=1&worker={top['key']}&late=resolve")
    assert browser.inner_text("#total") == str(late)

    browser.goto(f"{demo.app_url}/admin/dashboard?month={LAST_MONTH}&by=community")
    with browser.expect_download() as download:
        browser.click("#workbook")
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True)
    assert "概况" in book.sheetnames and download.value.suggested_filename == f"民情分析_{LAST_MONTH}.xlsx"
    browser.fill("#month-input", previous_month(LAST_MONTH))
    browser.click("#month-form button[type=submit]")
    browser.wait_for_url(re.compile(rf".*month={previous_month(LAST_MONTH)}.*"))
    assert browser.locator("#by-tabs a.on").get_attribute("data-by") == "community"
    assert browser.js_errors == []


def test_orders_desk_ledger_and_exports(browser, demo, wx):
    sign_in(browser, demo)
    browser.goto(f"{demo.app_url}/admin/orders")
    rows = browser.locator("#order-list tbody tr[data-number]")
    with db.session_scope() as session:
        total = session.scalar(select(func.count(Order.id)))
        rated = session.scalar(select(func.count(Order.id)).where(Order.status == "rated"))
    assert rows.count() == total
    shot(browser, "orders", full_page=False)
    browser.click("#order-filters + * a, nav.tabs a[data-status=rated]")
    browser.wait_for_url(re.compile(r".*status=rated.*"))
    assert rows.count() == rated

    # a resident orders a service now: the desk assigns it, the volunteer is told how to reach them
    wx.text("o-desk-resident", "你好")
    reply = wx.text("o-desk-resident", "点单 磨刀 翠柳村2栋 电话13912345678").text
    number = re.search(r"WL\d{8}-\d{4}", reply).group(0)
    browser.goto(f"{demo.app_url}/admin/orders?q={number}")
    assert rows.count() == 1
    rows.first.click()
    browser.wait_for_url(re.compile(rf".*/admin/orders/{number}$"))
    assert "139****5678" in browser.inner_text("#order-note")  # masked for every role by default
    sun = browser.locator("#form-order-assign option", has_text="孙伟").get_attribute("value")
    browser.select_option("#form-order-assign select", sun)
    browser.click("#form-order-assign button[type=submit]")
    expect(browser.locator("#order-status")).to_contain_text("已派单")
    browser.fill("#form-order-message textarea", "志愿者孙伟下午三点上门")
    browser.click("#form-order-message button[type=submit]")
    expect(browser.locator("#order-timeline")).to_contain_text("下午三点上门")
    told = demo.wait_pushes("o-desk-resident", 1)
    assert any("下午三点上门" in p["body"]["text"]["content"] for p in told)
    shot(browser, "order", full_page=True)

    browser.goto(f"{demo.app_url}/admin/volunteers/hours")
    with db.session_scope() as session:
        hours = session.scalar(select(func.sum(PointsEntry.hours)))
    assert float(browser.inner_text("#hours-total")) == pytest.approx(hours)
    assert "138****" not in browser.inner_text("#hours-list")  # staff work phones, whole for dispatchers
    shot(browser, "hours", full_page=True)
    with browser.expect_download() as download:
        browser.click("#hours-export")
    sheet = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True).active
    cells = [[c.value for c in r] for r in sheet.iter_rows()]
    assert cells[0][:2] == ["志愿者", "手机号"] and all("****" in str(r[1]) for r in cells[1:])

    with api(demo) as (client, csrf):
        exported = client.get("/api/orders.xlsx", params={"status": "rated"})
        sheet = load_workbook(io.BytesIO(exported.content), read_only=True).active
        assert sheet.max_row - 1 == rated
        cancelled = client.post(f"/api/orders/{number}/cancel", headers={"X-CSRF-Token": csrf},
                                json={"reason": "居民临时外出"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert browser.js_errors == []


def test_the_map_colours_grids_and_opens_their_events(browser, demo):
    sign_in(browser, demo)
    browser.goto(f"{demo.app_url}/admin/map")
    browser.wait_for_selector("#grid-map[data-rendered='1'] canvas")
    assert int(browser.inner_text("#map-grids")) == 6
    assert int(browser.inner_text("#map-points")) > 0
    painted = browser.evaluate("""() => {
        const c = document.querySelector('#grid-map canvas'); const x = c.getContext('2d');
        const d = x.getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] && (d[i] !== 255 || d[i + 1] !== 255)) n++;
        return n; }""")
    assert painted > 5000  # polygons drawn, not an empty canvas
    shot(browser, "map")
    first = browser.locator("#grid-table tbody tr").first
    name, open_count = first.locator("td").nth(0).inner_text(), first.locator("td").nth(1).inner_text()
    first.locator("a").click()
    browser.wait_for_url(re.compile(r".*/admin/events\?grid=\d+&status=open$"))
    assert browser.inner_text("#total") == open_count, name
    assert browser.js_errors == []


def test_phone_masked_for_every_role_and_reveals_audited(browser, demo, wx):
    wx.text("o-reveal-resident", "你好")
    reply = wx.text("o-reveal-resident", "幸福小区3栋楼道灯坏了，电话13987654321").text
    number = re.search(r"WL\d{8}-\d{4}", reply).group(0)
    sign_in(browser, demo)
    browser.goto(f"{demo.app_url}/admin/events/{number}")
    assert "13987654321" not in browser.inner_text("body")  # a dispatcher too sees it masked
    assert "139****4321" in browser.inner_text("#event-phone")
    browser.click("#reveal-phone")
    expect(browser.locator("#event-phone")).to_have_text("13987654321")
    assert "13987654321" in browser.inner_text("#event-text")
    browser.goto(f"{demo.app_url}/admin/audit")
    assert number in browser.inner_text("#audit-list") and DISPATCHER in browser.inner_text("#audit-list")
    shot(browser, "audit")
    with db.session_scope() as session:
        audit = list(session.scalars(select(PhoneReveal)))
    assert [(a.username, a.target_kind, a.target_number, a.field) for a in audit] == \
        [(DISPATCHER, "event", number, "phone")]

    with api(demo, VIEWER) as (viewer, csrf):
        assert "13987654321" not in viewer.get(f"/api/events/{number}").text
        refused = viewer.post(f"/api/events/{number}/reveal", headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
    with api(demo) as (client, csrf):
        assert "13987654321" not in client.get(f"/api/events/{number}").text
        assert "13987654321" not in client.get("/api/events").text
        assert client.get("/api/events", params={"q": "13987654321"}).json()["total"] == 1  # still searchable
        assert client.post(f"/api/events/{number}/reveal").status_code == 403  # no CSRF token
    with db.session_scope() as session:
        assert session.scalar(select(func.count(PhoneReveal.id))) == 1
    assert browser.js_errors == []


def test_dispatcher_reopens_after_a_second_unsatisfied_and_supervises(browser, demo):
    with db.session_scope() as session:
        target = next(e for e in session.scalars(select(Event).order_by(Event.id)) if second_unsatisfied(e))
        number, worker = target.number, target.worker.openid
    demo.open_window(worker)
    sign_in(browser, demo)
    browser.goto(f"{demo.app_url}/admin/events?flag=second_unsatisfied")
    assert number in browser.inner_text("#event-list")
    browser.goto(f"{demo.app_url}/admin/events/{number}")
    assert "居民二次不满意" in browser.inner_text("#second-unsatisfied")
    assert "待人工分类" not in browser.inner_text("h1")
    assert "置信度低" not in browser.inner_text("#classification")
    shot(browser, "second-unsatisfied", full_page=True)
    browser.fill("#form-reopen input[name=reason]", "请联系居民当面确认，彻底疏通")
    browser.click("#form-reopen button[type=submit]")
    expect(browser.locator("#event-status")).to_contain_text("已派单")
    expect(browser.locator("#timeline")).to_contain_text("调度员重新办理：请联系居民当面确认")
    assert any("请联系居民当面确认" in p["body"]["text"]["content"] for p in demo.wait_pushes(worker, 1))

    browser.fill("#form-supervise input[name=note]", "今天下班前处理完")
    browser.click("#form-supervise button[type=submit]")
    expect(browser.locator("#timeline")).to_contain_text("人工督办：今天下班前处理完")
    pushed = demo.wait_pushes(worker, 2)
    assert any("【督办】" in p["body"]["text"]["content"] for p in pushed)
    with db.session_scope() as session:
        saved = session.scalar(select(Event).where(Event.number == number))
        assert saved.overdue and saved.reopen_count == 2 and saved.status == "assigned"
    with api(demo) as (client, csrf):  # a second reopen is refused: it is no longer 二次不满意
        again = client.post(f"/api/events/{number}/reopen", headers={"X-CSRF-Token": csrf}, json={"reason": "再办"})
        assert again.status_code == 400
    assert browser.js_errors == []


@pytest.fixture
def scratch_rules(demo, tmp_path):
    """WEILINLI_RULES_FILE set to a scratch path, as an operator configures it: saves go there (the
    packaged file is never written), the previous version beside it; the packaged rules come back after."""
    before = rules_path()
    packaged = DEFAULT_RULES.read_bytes()
    target = tmp_path / "rules.toml"
    demo.configure(rules_file=str(target))
    yield target
    demo.reset_settings()
    reload_rules(before)
    assert DEFAULT_RULES.read_bytes() == packaged


def test_rules_form_edits_keywords_and_keeps_the_toml(browser, demo, scratch_rules):
    sign_in(browser, demo)
    browser.goto(f"{demo.app_url}/admin/rules")
    expect(browser.locator("#rules-save-path")).to_have_text(str(scratch_rules))
    browser.select_option("#cat-select", "greening")
    assert browser.input_value("#cat-label") == "园林绿化"
    shot(browser, "rules-form", full_page=True)
    browser.click("#kw-add")
    browser.locator("#kw-table .kw-pattern").first.fill("葡萄架")
    browser.locator("#kw-table .kw-weight").first.fill("4")
    browser.click("#rules-check")
    expect(browser.locator("#rules-msg")).to_contain_text("检查通过")
    browser.click("#tab-toml")
    expect(browser.locator("#rules-text")).to_have_value(re.compile(r'"葡萄架" = 4'))
    assert "# " in browser.input_value("#rules-text")  # the comments survive the form
    browser.click("#tab-form")
    browser.locator("#kw-table .kw-weight").first.fill("500")
    browser.click("#rules-save")
    expect(browser.locator("#rules-msg")).to_contain_text("权重")
    browser.locator("#kw-table .kw-weight").first.fill("4")
    browser.click("#rules-save")
    expect(browser.locator("#rules-msg")).to_contain_text("已保存并生效")
    browser.fill("#test-text", "小区里的葡萄架塌了一半")
    browser.click("#test-form button[type=submit]")
    expect(browser.locator("#test-result [data-k=category_label]")).to_have_text("园林绿化")
    saved = scratch_rules.read_text(encoding="utf-8")
    assert '"葡萄架" = 4' in saved and saved.count("\n# ") == DEFAULT_RULES.read_text(encoding="utf-8").count("\n# ")

    browser.click("#rules-rollback")  # the page fixture accepts the confirm dialog
    expect(browser.locator("#rules-msg")).to_contain_text("已恢复上一版规则")
    assert "恢复到上一次保存前的规则？" in browser.dialogs
    shot(browser, "rules-rolled-back", full_page=True)
    assert '"葡萄架"' not in scratch_rules.read_text(encoding="utf-8")
    browser.click("#test-form button[type=submit]")  # the same sentence, on the rules before the save
    expect(browser.locator("#test-result [data-k=category_label]")).not_to_have_text("园林绿化")
    with httpx.Client(base_url=demo.app_url) as anonymous:
        assert anonymous.get("/api/rules/form").status_code == 401
    assert browser.js_errors == []
