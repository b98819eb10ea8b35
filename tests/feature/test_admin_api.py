"""The dispatcher's JSON API without a browser: the Excel 台账, the event list's filters, search and
paging, and grid and volunteer imports/exports — on the same seeded site as the admin-page tests."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from bot.core import db
from bot.core.db import utcnow
from bot.domain.models import Event
from bot.events import intake
from tests.support.admin import logged_in


def test_excel_ledger_masks_phones_and_defuses_formulas(site):
    with logged_in(site, "disp1") as (client, _):
        answer = client.get("/api/events.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(answer.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "事件编号" and len(rows) == 5
    cells = [str(c) for row in rows for c in row if c is not None]
    assert not any("13987654321" in c or "13912345678" in c for c in cells)
    assert any("139****4321" in c for c in cells)
    formula = next(r for r in rows if r[0] == site.numbers["formula"])
    assert formula[7].startswith("'=HYPERLINK")
    assert all(not str(c).startswith(("=", "+", "-", "@")) for c in cells)


def test_event_list_api_filters_search_and_paging(site):
    with db.session_scope() as session:
        for index in range(23):
            intake.report(session, intake.Report(openid=f"o-bulk-{index}", text=f"东亭小区{index}号楼下垃圾没人清运"))
        late = session.scalar(select(Event).where(Event.number == site.numbers["light"]))
        late.resolve_due_at = utcnow() - timedelta(hours=1)  # past its limit: 督办
        old = session.scalar(select(Event).where(Event.number == site.numbers["evil"]))
        old.created_at = utcnow() - timedelta(days=40)
    with logged_in(site, "disp1") as (client, _):
        def numbers(**params) -> list[str]:
            answer = client.get("/api/events", params={"per_page": 100, **params})
            assert answer.status_code == 200, answer.text
            return [e["number"] for e in answer.json()["events"]]

        first = client.get("/api/events").json()
        assert first["total"] == 27 and first["pages"] == 2 and len(first["events"]) == 20
        second = client.get("/api/events", params={"page": 2}).json()
        assert len(second["events"]) == 7
        assert not {e["number"] for e in first["events"]} & {e["number"] for e in second["events"]}
        assert numbers(overdue=1) == [site.numbers["light"]]
        assert site.numbers["light"] not in numbers(category="environment")
        assert numbers(category="property") == [site.numbers["light"]]
        assert numbers(grade="B") == [site.numbers["other"]]
        week_ago = (utcnow() - timedelta(days=7)).date().isoformat()
        assert site.numbers["evil"] not in numbers(date_from=week_ago)
        assert numbers(date_to=week_ago) == [site.numbers["evil"]]
        assert numbers(q="东亭小区7号楼") and len(numbers(q="东亭小区7号楼")) == 1
        assert numbers(q=site.numbers["formula"].lower()) == [site.numbers["formula"]]
        counts = client.get("/api/events").json()["counts"]
        assert sum(counts.values()) == 27
    with logged_in(site, "viewer1") as (client, _):
        assert client.get("/api/events", params={"q": "13987654321"}).json()["total"] == 0  # no phone search
        listed = client.get("/api/events", params={"per_page": 100}).json()["events"]
        assert all("13987654321" not in (e["text"] or "") for e in listed)


def test_import_export_grids_and_volunteers_through_the_api(site):
    header = "区,街道,社区,网格,别名,网格员,手机号\n"
    bad = header + "武昌区,水果湖街道,东亭社区,新网格,,小周,13911112222\n武昌区,,东亭社区,坏网格,,,\n"
    good = header + "武昌区,水果湖街道,东亭社区,东亭三网格,东亭三村,周洁,13911112222\n"
    volunteers = "姓名,手机号,技能,网格\n小李,13900001111,磨刀|修伞,东亭一网格\n"
    with logged_in(site, "disp1") as (client, csrf):
        def upload(path: str, text: str, name: str = "grids.csv", token: str = csrf):
            return client.post(path, files={"file": (name, text.encode(), "text/csv")}, headers={"X-CSRF-Token": token})

        refused = upload("/api/grids/import", bad)
        assert refused.status_code == 400
        assert any(e.startswith("第3行") for e in refused.json()["detail"]["errors"]), refused.json()
        assert "新网格" not in client.get("/api/grids").text  # nothing half-imported
        assert upload("/api/grids/import", good, token="forged").status_code == 403
        assert upload("/api/grids/import", good).json()["grids_created"] == 1
        assert "东亭三网格" in client.get("/api/grids").text
        assert upload("/api/volunteers/import", volunteers, "v.csv").status_code == 200
        assert "小李" in [w["name"] for w in client.get("/api/workers", params={"role": "volunteer"}).json()]
        sheet = load_workbook(io.BytesIO(client.get("/api/grids/export").content)).active
        assert ["区", "街道", "社区", "网格", "别名", "网格员", "手机号"] == [c.value for c in sheet[1]]
        assert any(row[3] == "东亭三网格" and row[6] == "13911112222" for row in sheet.iter_rows(values_only=True))
    with logged_in(site, "zhongnan") as (client, csrf):  # a street dispatcher may not rewrite the district
        answer = client.post("/api/grids/import", files={"file": ("g.csv", good.encode(), "text/csv")},
                             headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 403
        sheet = load_workbook(io.BytesIO(client.get("/api/grids/export").content)).active
        assert [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["丁字桥一网格"]
