"""三率考核 over HTTP and in the monthly workbook, against hand-computed expectations.

October 2026 (Asia/Shanghai). The events are created by the domain (`intake.report`) and then
given controlled due / 接单 / 办结 times; ratings are Rating rows (every rater and round counts).

| event | place / worker      | respond: due → accepted | resolve: due → completed | ratings                      |
|-------|---------------------|-------------------------|--------------------------|------------------------------|
| e1    | 东亭一网格 张敏     | on time                 | on time                  | satisfied                    |
| e2    | 东亭一网格 张敏     | late                    | due passed, not done     | — (督办 once)               |
| e3    | 幸福家园网格 王芳   | on time                 | due in the future        | —                            |
| e4    | 幸福家园网格 王芳   | due in the future       | none                     | —                            |
| e5    | 幸福家园网格 王芳   | accepted exactly at due | completed at due  | r0 unsat; r1 basic, sat, unrated |
| e6    | 翠柳一网格 赵磊     | on time                 | late                     | unrated                      |
| e7    | 东亭一网格 (cancelled)  | excluded            |                          | satisfied (ignored)          |
| e8    | 中南一网格 孙丽     | on time                 | on time                  | satisfied                    |
| e9    | 东亭一网格 张敏, 1 Oct 00:30 local (30 Sep UTC) | on time | none         | —                            |
| e10   | 东亭一网格 张敏, 1 Nov 00:30 local (31 Oct UTC) | not October |              | unsatisfied (November)       |
| e11   | no grid, no worker  | due passed, not accepted | due passed, not done    | — (督办 twice)               |
| e12   | 东亭一网格 (rejected)   | excluded            |                          |                              |
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

import settings as settings_module
from admin.auth import add_user
from bot.core import db
from bot.core.db import utcnow
from bot.domain.models import Event, Grid, Rating, Worker
from bot.events import intake
from bot.places.registry import _upsert_grid
from bot.reports import rates
from tests.support.admin import PASSWORD, login
from tests.support.hostile import INJECTED

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def make(session, key: str, grid: Grid | None, worker: Worker | None, created: datetime, *, status: str,
         respond_due=None, accepted=None, resolve_due=None, completed=None, overdue_count=0, reopen_count=0,
         ratings=(), text="路灯不亮，晚上很黑", place=None, phone=None) -> Event:
    reported = intake.report(session, intake.Report(openid=f"o-rates-{key}", text=text))
    event = reported.event
    event.grid, event.worker, event.status, event.created_at = grid, worker, status, created
    event.respond_due_at, event.accepted_at = respond_due, accepted
    event.resolve_due_at, event.completed_at = resolve_due, completed
    event.overdue_count, event.overdue = overdue_count, overdue_count > 0 and status in ("assigned", "accepted",
                                                                                         "reported")
    event.reopen_count, event.place_text, event.phone = reopen_count, place, phone
    event.next_check_at = None  # nothing for the supervision sweep to act on: the times stay as set
    session.flush()
    for rater, round_, value in ratings:
        person = intake.resident(session, f"o-rates-{key}-{rater}") if rater != "reporter" else event.reporter
        session.add(Rating(event_id=event.id, resident_id=person.id, round=round_, value=value,
                           at=(completed or created) + timedelta(days=1)))
    session.flush()
    return event


@pytest.fixture
def october(clean):
    far = utcnow() + timedelta(days=30)
    with db.session_scope() as session:
        grid = {g.name: g for g in session.scalars(select(Grid))}
        worker = {w.name: w for w in session.scalars(select(Worker))}
        district = grid["武昌区"]
        street, _ = _upsert_grid(session, district, "street", "中南路街道")
        community, _ = _upsert_grid(session, street, "community", "中南社区")
        zhongnan, _ = _upsert_grid(session, community, "grid", "中南一网格")
        sun = Worker(name="孙丽", phone="13800000099", role="grid_worker", grid=zhongnan)
        session.add(sun)
        session.flush()
        add_user(session, "rates-viewer", PASSWORD, "viewer")
        add_user(session, "rates-dispatcher", PASSWORD, "dispatcher")
        add_user(session, "rates-zhongnan", PASSWORD, "dispatcher", street)
        dongting, xingfu, cuiliu = grid["东亭一网格"], grid["幸福家园网格"], grid["翠柳一网格"]
        zhang, wang, zhao = worker["张敏"], worker["王芳"], worker["赵磊"]
        made = {
            "e1": make(session, "e1", dongting, zhang, at(5, 9), status="rated", respond_due=at(5, 11),
                       accepted=at(5, 10), resolve_due=at(6, 9), completed=at(5, 16),
                       ratings=[("reporter", 0, "satisfied")]),
            "e2": make(session, "e2", dongting, zhang, at(6, 9), status="accepted", respond_due=at(6, 11),
                       accepted=at(6, 12), resolve_due=at(7, 9), overdue_count=1,
                       text=f"{INJECTED} 联系13912345678", place="@SUM(1+1)", phone="13812345678"),
            "e3": make(session, "e3", xingfu, wang, at(7, 9), status="accepted", respond_due=at(7, 11),
                       accepted=at(7, 9, 30), resolve_due=far),
            "e4": make(session, "e4", xingfu, wang, at(8, 9), status="assigned", respond_due=far),
            "e5": make(session, "e5", xingfu, wang, at(9, 9), status="rated", respond_due=at(9, 11),
                       accepted=at(9, 11), resolve_due=at(10, 9), completed=at(10, 9), reopen_count=1,
                       ratings=[("reporter", 0, "unsatisfied"), ("reporter", 1, "basic"),
                                ("follower", 1, "satisfied"), ("follower2", 1, "unrated")]),
            "e6": make(session, "e6", cuiliu, zhao, at(10, 9), status="closed", respond_due=at(10, 11),
                       accepted=at(10, 10), resolve_due=at(11, 9), completed=at(12, 9),
                       ratings=[("reporter", 0, "unrated")]),
            "e7": make(session, "e7", dongting, zhang, at(11, 9), status="cancelled", respond_due=at(11, 11),
                       overdue_count=1, ratings=[("reporter", 0, "satisfied")]),
            "e8": make(session, "e8", zhongnan, sun, at(12, 9), status="rated", respond_due=at(12, 11),
                       accepted=at(12, 10), resolve_due=at(13, 9), completed=at(12, 15),
                       ratings=[("reporter", 0, "satisfied")]),
            "e9": make(session, "e9", dongting, zhang, at(1, 0, 30), status="accepted", respond_due=at(1, 2, 30),
                       accepted=at(1, 1)),
            "e10": make(session, "e10", dongting, zhang, at(1, 0, 30, month=11), status="rated",
                        respond_due=at(1, 2, 30, month=11), accepted=at(1, 1, month=11),
                        resolve_due=at(2, 0, 30, month=11), completed=at(1, 12, month=11),
                        ratings=[("reporter", 0, "unsatisfied")]),
            "e11": make(session, "e11", None, None, at(15, 9), status="reported", respond_due=at(15, 11),
                        resolve_due=at(16, 9), overdue_count=2),
            "e12": make(session, "e12", dongting, zhang, at(16, 9), status="rejected", respond_due=at(16, 11)),
        }
        numbers = {key: event.number for key, event in made.items()}
    return clean, numbers


def counts(row: dict) -> tuple:
    return (row["reported"], row["respond_on_time"], row["respond_due"], row["response_rate"],
            row["resolve_on_time"], row["resolve_due"], row["completion_rate"],
            row["satisfied"], row["basic"], row["unsatisfied"], row["rated"], row["unrated"],
            row["satisfaction_rate"], row["composite"], row["overdue"])


def by_name(body: dict) -> dict[str, dict]:
    return {row["name"]: row for row in body["rows"]}


#            reported R(on,due,%)   C(on,due,%)   sat basic unsat rated unrated S%    composite overdue
ZHANG = (3, 2, 3, 66.7, 1, 2, 50.0, 1, 0, 0, 1, 0, 100.0, 76.7, 1)
WANG = (3, 2, 2, 100.0, 1, 1, 100.0, 1, 1, 1, 3, 1, 66.7, 83.3, 0)
ZHAO = (1, 1, 1, 100.0, 0, 1, 0.0, 0, 0, 0, 0, 1, None, 20.0, 0)
SUN = (1, 1, 1, 100.0, 1, 1, 100.0, 1, 0, 0, 1, 0, 100.0, 100.0, 0)
NOBODY = (1, 0, 1, 0.0, 0, 1, 0.0, 0, 0, 0, 0, 0, None, 0.0, 1)
DONGTING = (6, 4, 5, 80.0, 2, 3, 66.7, 2, 1, 1, 4, 1, 75.0, 72.2, 1)
SHUIGUOHU = (7, 5, 6, 83.3, 2, 4, 50.0, 2, 1, 1, 4, 2, 75.0, 65.8, 1)
TOTAL = (9, 6, 8, 75.0, 3, 6, 50.0, 3, 1, 1, 5, 2, 80.0, 67.5, 2)


def test_rates_by_worker_grid_community_street(october):
    env, _ = october
    client, _ = login(env, "rates-dispatcher", timeout=20)
    expected = {
        "worker": {"张敏": ZHANG, "王芳": WANG, "赵磊": ZHAO, "孙丽": SUN, "未派单": NOBODY},
        "grid": {"东亭一网格": ZHANG, "幸福家园网格": WANG, "翠柳一网格": ZHAO, "中南一网格": SUN,
                 "未定位网格": NOBODY},
        "community": {"东亭社区": DONGTING, "翠柳社区": ZHAO, "中南社区": SUN, "未归属社区": NOBODY},
        "street": {"水果湖街道": SHUIGUOHU, "中南路街道": SUN, "未归属街道": NOBODY},
    }
    for by, rows in expected.items():
        response = client.get("/api/rates", params={"month": "2026-10", "by": by})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["month"] == "2026-10" and body["by"] == by
        assert {name: counts(row) for name, row in by_name(body).items()} == rows, by
        assert counts(body["total"]) == TOTAL, by
    zhao = by_name(client.get("/api/rates", params={"month": "2026-10", "by": "worker"}).json())["赵磊"]
    assert zhao["composite_complete"] is False and zhao["satisfaction_rate"] is None
    assert zhao["belongs_to"] == "水果湖街道翠柳社区翠柳一网格"
    body = client.get("/api/rates", params={"month": "2026-10", "by": "worker"}).json()
    assert by_name(body)["张敏"]["composite_complete"] is True
    assert [row["name"] for row in body["rows"]][:2] == ["孙丽", "王芳"]  # ranked by composite
    assert body["rows"][-1]["name"] == "未派单"
    for word in ("响应率", "办结率", "满意率", "未评价", "0.1", "0.4", "0.5", "重新归一"):
        assert word in body["definitions"]
    assert body["from"] == "2026-10-01T00:00:00+08:00" and body["to"] == "2026-11-01T00:00:00+08:00"


def test_month_boundaries_follow_shanghai_time(october):
    env, _ = october
    client, _ = login(env, "rates-viewer", timeout=20)
    november = client.get("/api/rates", params={"month": "2026-11", "by": "worker"}).json()
    zhang = by_name(november)["张敏"]
    assert (zhang["reported"], zhang["unsatisfied"], zhang["satisfaction_rate"]) == (1, 1, 0.0)
    september = client.get("/api/rates", params={"month": "2026-09", "by": "street"}).json()
    assert september["rows"] == [] and september["total"]["reported"] == 0
    assert september["total"]["composite"] is None


def test_pending_due_times_count_once_they_pass(october):
    """An unaccepted event whose response limit has not passed yet is not in the denominator."""
    with db.session_factory()() as session:
        today = rates.compute(session, "2026-10", "worker")
        later = rates.compute(session, "2026-10", "worker", now=utcnow() + timedelta(days=365))
    wang_now = next(r for r in today.rows if r.name == "王芳")
    wang_later = next(r for r in later.rows if r.name == "王芳")
    assert (wang_now.respond_due, wang_now.resolve_due) == (2, 1)
    assert (wang_later.respond_due, wang_later.respond_on_time, wang_later.response_rate) == (3, 2, 66.7)
    assert (wang_later.resolve_due, wang_later.completion_rate) == (2, 50.0)


def test_rates_access_and_scope(october):
    env, _ = october
    with httpx.Client(base_url=env.app_url, timeout=20) as anonymous:
        assert anonymous.get("/api/rates", params={"month": "2026-10"}).status_code == 401
    viewer, _ = login(env, "rates-viewer", timeout=20)
    response = viewer.get("/api/rates", params={"month": "2026-10", "by": "street"})
    assert response.status_code == 200 and counts(response.json()["total"]) == TOTAL
    for params in ({"month": "2026-13"}, {"month": "2026-1"}, {"month": "abc"}, {"month": ""},
                   {"month": "2026-10", "by": "district"}, {"month": "2026-10", "by": "nobody"}):
        bad = viewer.get("/api/rates", params=params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["detail"]
    scoped, _ = login(env, "rates-zhongnan", timeout=20)
    body = scoped.get("/api/rates", params={"month": "2026-10", "by": "street"}).json()
    assert [row["name"] for row in body["rows"]] == ["中南路街道"] and body["scope"] == "中南路街道"
    assert counts(body["total"]) == SUN
    workers = scoped.get("/api/rates", params={"month": "2026-10", "by": "worker"}).json()
    assert [row["name"] for row in workers["rows"]] == ["孙丽"]
    grids = scoped.get("/api/rates", params={"month": "2026-10", "by": "grid"}).json()
    assert [row["name"] for row in grids["rows"]] == ["中南一网格"]


def test_report_workbook(october, tmp_path):
    env, numbers = october
    out = tmp_path / "民情分析-2026-10.xlsx"
    child_env = dict(os.environ, WEILINLI_DATA_DIR=str(settings_module.get_settings().data_dir))
    done = subprocess.run([sys.executable, "-m", "bot.cli", "report", "--month", "2026-10", "--out", str(out)],
                          env=child_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "已生成" in done.stdout
    book = load_workbook(out)
    assert book.sheetnames == ["概况", "类别统计", "网格统计", "三率-网格员", "三率-网格", "三率-社区", "三率-街道",
                               "超期督办", "高发地点"]

    def table(name: str) -> list[dict]:
        rows = list(book[name].iter_rows(values_only=True))
        return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]

    workers = {row["名称"]: row for row in table("三率-网格员")}
    zhang = workers["张敏"]
    assert (zhang["上报数"], zhang["响应率(%)"], zhang["办结率(%)"], zhang["满意率(%)"], zhang["综合得分"]) == (
        3, 66.7, 50.0, 100.0, 76.7)
    assert workers["赵磊"]["满意率(%)"] == "—" and workers["赵磊"]["三率齐全"] == "否"
    assert workers["合计"]["上报数"] == 9
    streets = {row["名称"]: row for row in table("三率-街道")}
    assert streets["水果湖街道"]["综合得分"] == 65.8 and streets["合计"]["综合得分"] == 67.5
    assert {row["名称"]: row["综合得分"] for row in table("三率-社区")}["东亭社区"] == 72.2
    assert sum(row["上报数"] for row in table("类别统计")) == 9
    assert table("网格统计")[-1]["合计"] == 9

    overdue = {row["编号"]: row for row in table("超期督办")}
    assert set(overdue) == {numbers["e2"], numbers["e6"], numbers["e11"]}
    e2 = overdue[numbers["e2"]]
    assert e2["内容"] == "'" + INJECTED + " 联系139****5678"
    assert e2["联系电话"] == "138****5678" and e2["地点"] == "'@SUM(1+1)"
    assert "响应超期" in e2["超期情形"] and "办结超期" in e2["超期情形"] and "已督办" in e2["超期情形"]
    assert overdue[numbers["e6"]]["超期情形"] == "办结超期"
    places = table("高发地点")
    assert [(row["地点"], row["网格"], row["上报数"]) for row in places] == [
        ("'@SUM(1+1)", "水果湖街道东亭社区东亭一网格", 1)]

    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                assert "13812345678" not in str(cell.value) and "13912345678" not in str(cell.value)
    summary = {row["项目"]: row["内容"] for row in table("概况")}
    assert summary["上报事件数（不含撤销、合并、不予受理）"] == 9 and summary["综合得分"] == 67.5
