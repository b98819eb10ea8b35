"""Open311 GeoReport v2 over real HTTP: services, requests read and created, status from the lifecycle."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

import nlp
from bot.core import db
from bot.domain.lifecycle import transition
from bot.domain.models import Event
from bot.open311.routes import router
from tests.support.chat import NUMBER
from tests.support.chat import event as load
from tests.support.service import ServerThread

INSIDE_XINGFU = {"lat": "30.5572", "long": "114.3501"}  # inside the 幸福家园网格 demo polygon
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def server(env) -> Iterator[ServerThread]:
    from bot.app import create_app

    app = create_app(run_scheduler=False, runtime=env.runtime)
    app.include_router(router)
    running = ServerThread(app).start()
    yield running
    running.stop()


@pytest.fixture
def api(server, clean) -> Iterator[httpx.Client]:
    clean.configure(open311_keys="k1, k2")
    with httpx.Client(base_url=f"{server.url}/open311/v2", timeout=15) as client:
        yield client


def event_count() -> int:
    with db.session_factory()() as session:
        return session.scalar(select(func.count(Event.id)))


def post(api: httpx.Client, fmt: str = "json", **fields) -> httpx.Response:
    return api.post(f"/requests.{fmt}", data=fields)


def create(api: httpx.Client, **fields) -> str:
    response = post(api, **{"api_key": "k1", **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body) == 1 and body[0]["account_id"] is None
    assert NUMBER.fullmatch(body[0]["service_request_id"])
    return body[0]["service_request_id"]


def drive(number: str, *steps: tuple[str, str]) -> None:
    with db.session_scope() as session:
        event = session.scalar(select(Event).where(Event.number == number))
        for action, note in steps:
            transition(session, event, action, actor="dispatcher", actor_name="调度员", note=note)


# ----------------------------------------------------------------------------- services


def test_services_list_from_the_taxonomy(api):
    response = api.get("/services.json")
    assert response.status_code == 200
    services = response.json()
    assert [s["service_code"] for s in services] == list(nlp.CATEGORIES)
    by_code = {s["service_code"]: s for s in services}
    assert by_code["property"]["service_name"] == "物业管理"
    assert "电梯故障" in by_code["property"]["keywords"].split(",")
    assert all(s["metadata"] is False and s["type"] == "realtime" and s["group"] for s in services)


def test_services_xml_parses(api):
    response = api.get("/services.xml")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert codes == list(nlp.CATEGORIES)
    assert root.find("service/metadata").text == "false"


def test_service_definition_is_empty_and_unknown_code_is_404(api):
    ok = api.get("/services/facility.json")
    assert ok.status_code == 200 and ok.json() == {"service_code": "facility", "attributes": []}
    xml = ET.fromstring(api.get("/services/facility.xml").content)
    assert xml.tag == "service_definition" and xml.findtext("service_code") == "facility"
    missing = api.get("/services/nope.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404
    assert api.get("/services.yaml").status_code == 404


# ----------------------------------------------------------------------------- POST


def test_post_without_or_with_a_wrong_key_is_403_and_creates_nothing(api):
    fields = {"description": "路灯不亮了", **INSIDE_XINGFU}
    for extra in ({}, {"api_key": "wrong"}, {"api_key": ""}):
        response = post(api, **fields, **extra)
        assert response.status_code == 403
        assert response.json() == [{"code": 403, "description": "api_key was not provided or is invalid"}]
    xml = post(api, "xml", **fields)
    assert xml.status_code == 403
    error = ET.fromstring(xml.content)
    assert error.tag == "errors" and error.findtext("error/code") == "403"
    assert event_count() == 0


def test_post_is_refused_when_no_keys_are_configured(api, clean):
    clean.configure(open311_keys="")
    assert post(api, api_key="k1", description="路灯不亮了", **INSIDE_XINGFU).status_code == 403
    assert event_count() == 0


def test_post_with_key_and_location_is_classified_routed_and_readable(api):
    response = post(api, api_key="k2", description="楼道灯坏了，电梯也经常故障，联系电话13912345678",
                     email="zhang@example.com", first_name="三", last_name="张", **INSIDE_XINGFU)
    assert response.status_code == 200, response.text
    created = response.json()[0]
    number = created["service_request_id"]
    assert NUMBER.fullmatch(number)
    assert number in created["service_notice"] and "物业管理" in created["service_notice"]
    saved = load(number)
    assert saved.source == "open311" and saved.category == "property"
    assert saved.grid.name == "幸福家园网格" and saved.status == "assigned"
    assert saved.reporter.openid.startswith("open311:") and "k2" not in saved.reporter.openid
    assert "zhang@example.com" in saved.timeline[-1].note  # contact kept for the dispatcher

    got = api.get(f"/requests/{number}.json", params={"api_key": "k2"})  # with a key: the exact data
    assert got.status_code == 200
    [item] = got.json()
    assert item["service_request_id"] == number and item["status"] == "open"
    assert item["service_code"] == "property" and item["service_name"] == "物业管理"
    assert item["lat"] == pytest.approx(30.5572) and item["long"] == pytest.approx(114.3501)
    assert item["agency_responsible"] == "东亭社区幸福家园网格站"
    assert item["requested_datetime"].endswith("+08:00") and item["updated_datetime"].endswith("+08:00")
    # privacy: the phone is masked, the reporter, the e-mail and the worker are not published
    assert "139****5678" in item["description"] and "13912345678" not in got.text
    assert "open311:" not in got.text and "zhang@" not in got.text and "王芳" not in got.text


def test_post_json_body_and_xml_response(api):
    response = api.post("/requests.xml", json={"api_key": "k1", "description": "翠柳小区门口垃圾没人清运",
                                               "address_string": "翠柳小区南门"})
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    number = root.findtext("request/service_request_id")
    assert NUMBER.fullmatch(number) and root.find("request/account_id") is not None
    saved = load(number)
    assert saved.category == "environment" and saved.grid.name == "翠柳一网格"
    assert saved.place_text == "翠柳小区南门" and saved.lat is None


def test_address_string_routes_by_grid_alias(api):
    number = create(api, description="路面有个大坑", address_string="东亭小区北门")
    saved = load(number)
    assert saved.grid.name == "东亭一网格" and saved.status == "assigned"
    [item] = api.get(f"/requests/{number}.json", params={"api_key": "k1"}).json()
    assert item["address"] == "东亭小区北门" and item["lat"] is None


def test_address_string_wins_over_a_place_named_in_the_description(api):
    number = create(api, description="东亭小区的垃圾被人拉到这里乱倒", address_string="翠柳小区南门")
    assert load(number).grid.name == "翠柳一网格"


def test_urgent_report_gets_guidance_and_a_unit_not_a_person(api):
    response = post(api, api_key="k1", description="幸福小区3栋有人飞线充电，还闻到燃气味", **INSIDE_XINGFU)
    notice = response.json()[0]["service_notice"]
    assert "119" in notice and "紧急" in notice
    number = response.json()[0]["service_request_id"]
    assert load(number).urgent
    [item] = api.get(f"/requests/{number}.json").json()
    assert item["service_code"] == "safety"
    assert item["agency_responsible"] in ("东亭社区幸福家园网格站", "水果湖街道职能部门", "武昌区网格化指挥中心")


def test_service_code_overrides_the_classified_category(api):
    number = create(api, service_code="greening", description="路灯不亮了", **INSIDE_XINGFU)
    saved = load(number)
    assert saved.category == "greening"
    assert any("自动分类：市政设施" in entry.note for entry in saved.timeline)
    only_code = create(api, service_code="facility", address_string="幸福小区")
    assert load(only_code).category == "facility"


@pytest.mark.parametrize("fields, message", [
    ({"description": "路灯不亮了"}, "a location is required"),
    ({"description": "路灯不亮了", "lat": "30.5"}, "lat and long must be given together"),
    ({"description": "路灯不亮了", "lat": "abc", "long": "114.3"}, "lat must be a number"),
    ({"description": "路灯不亮了", "lat": "95", "long": "114.3"}, "lat is out of range"),
    ({"description": "路灯不亮了", "lat": "nan", "long": "114.3"}, "lat is out of range"),
    ({"service_code": "nope", "description": "x", **INSIDE_XINGFU}, "service_code not found"),
    (dict(INSIDE_XINGFU), "description or service_code is required"),
    ({"description": "x", "media_url": "javascript:alert(1)", **INSIDE_XINGFU}, "media_url"),
    ({"description": "x", "email": "not-an-email", **INSIDE_XINGFU}, "email"),
])
def test_bad_posts_are_400_with_the_spec_error_list(api, fields, message):
    response = post(api, api_key="k1", **fields)
    assert response.status_code == 400, response.text
    body = response.json()
    assert all(e["code"] == 400 for e in body)
    assert any(message in e["description"] for e in body), body
    assert event_count() == 0


def test_malformed_json_body_is_400(api):
    response = api.post("/requests.json", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()[0]["code"] == 400
    big = api.post("/requests.json", data={"api_key": "k1", "description": "x" * 70000, **INSIDE_XINGFU})
    assert big.status_code == 413
    assert event_count() == 0


def test_client_request_id_makes_a_repeated_post_idempotent(api):
    fields = {"description": "幸福小区有人飞线充电", "client_request_id": "ext-42", **INSIDE_XINGFU}
    first, second = create(api, **fields), create(api, **fields)
    assert first == second and event_count() == 1
    other_key = create(api, **{**fields, "api_key": "k2"})  # ids are per API key
    assert other_key != first
    header = api.post("/requests.json", data={"api_key": "k1", "description": "井盖丢了", **INSIDE_XINGFU},
                      headers={"Idempotency-Key": "hdr-1"})
    again = api.post("/requests.json", data={"api_key": "k1", "description": "井盖丢了", **INSIDE_XINGFU},
                     headers={"Idempotency-Key": "hdr-1"})
    assert header.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert event_count() == 3


def test_concurrent_duplicates_create_one_event(api, server):
    fields = {"api_key": "k1", "description": "东亭小区井盖丢了", "client_request_id": "race-1", **INSIDE_XINGFU}

    def send(_):
        with httpx.Client(base_url=f"{server.url}/open311/v2", timeout=30) as client:
            response = client.post("/requests.json", data=fields)
            assert response.status_code == 200, response.text
            return response.json()[0]["service_request_id"]

    with ThreadPoolExecutor(6) as pool:
        numbers = set(pool.map(send, range(6)))
    assert len(numbers) == 1 and event_count() == 1


def test_media_url_is_published_for_open311_media(api):
    number = create(api, description="绿化带被毁了种菜", media_url="https://example.org/p/1.jpg", **INSIDE_XINGFU)
    [item] = api.get(f"/requests/{number}.json", params={"api_key": "k1"}).json()
    assert item["media_url"] == "https://example.org/p/1.jpg"


# ----------------------------------------------------------------------------- GET and lifecycle


def test_closed_through_the_lifecycle_reads_closed(api):
    number = create(api, description="幸福小区3栋楼道灯坏了", **INSIDE_XINGFU)
    drive(number, ("assign", "派至幸福家园网格"), ("accept", ""), ("complete", "已更换灯泡"))
    [item] = api.get(f"/requests/{number}.json").json()
    assert item["status"] == "open" and "已办结" in item["status_notes"]
    drive(number, ("close", "核查属实，已修复。回访电话 13812345678"))
    [item] = api.get(f"/requests/{number}.json").json()
    assert item["status"] == "closed"
    assert "已结案" in item["status_notes"] and "138****5678" in item["status_notes"]
    closed = api.get("/requests.json", params={"status": "closed"}).json()
    assert [r["service_request_id"] for r in closed] == [number]
    assert api.get("/requests.json", params={"status": "open"}).json() == []


def test_rejected_and_merged_are_closed_with_notes(api):
    target = create(api, description="东亭小区垃圾满了没人清运", address_string="东亭小区")
    duplicate = create(api, description="东亭小区垃圾桶满了", address_string="东亭小区")
    rejected = create(api, description="咨询一下社保怎么交", address_string="东亭小区")
    with db.session_scope() as session:
        dup = session.scalar(select(Event).where(Event.number == duplicate))
        dup.merged_into_id = session.scalar(select(Event.id).where(Event.number == target))
        transition(session, dup, "merge", actor="dispatcher", note=f"与 {target} 重复")
    drive(rejected, ("reject", "不属于受理范围，请拨打12333"))
    items = {r["service_request_id"]: r for r in api.get("/requests.json").json()}
    assert items[target]["status"] == "open"
    assert items[duplicate]["status"] == "closed" and target in items[duplicate]["status_notes"]
    assert items[rejected]["status"] == "closed" and "不予受理" in items[rejected]["status_notes"]
    assert "12333" in items[rejected]["status_notes"]


def test_request_filters(api):
    lamp = create(api, description="路灯不亮了", **INSIDE_XINGFU)
    rubbish = create(api, description="垃圾没人清运", **INSIDE_XINGFU)
    parking = create(api, description="小区门口乱停车堵住了", **INSIDE_XINGFU)
    drive(parking, ("reject", "已由交警处理"))

    def ids(**params) -> list[str]:
        response = api.get("/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert ids() == [parking, rubbish, lamp]  # newest first
    assert ids(service_code="facility") == [lamp]
    assert ids(service_code="facility,environment") == [rubbish, lamp]
    assert ids(status="open") == [rubbish, lamp]
    assert ids(status="closed") == [parking]
    assert ids(status="open,closed") == [parking, rubbish, lamp]
    assert ids(service_request_id=f"{lamp},{parking.lower()},WL20000101-0001") == [lamp, parking]
    assert ids(service_request_id=lamp, status="closed") == [lamp]  # the id overrides other filters
    now = datetime.now(SHANGHAI)
    assert ids(start_date=(now - timedelta(hours=1)).isoformat(), end_date=(now + timedelta(hours=1)).isoformat()) \
        == [parking, rubbish, lamp]
    assert ids(start_date=(now + timedelta(hours=1)).isoformat()) == []
    assert ids(end_date=(now - timedelta(days=1)).strftime("%Y-%m-%d")) == []
    assert ids(end_date=now.strftime("%Y-%m-%d")) == [parking, rubbish, lamp]  # a date means the whole day
    utc = datetime.now(ZoneInfo("UTC"))
    assert ids(start_date=(utc - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")) == [parking, rubbish, lamp]
    for bad in ({"start_date": "yesterday"}, {"status": "pending"}, {"service_code": "nope"},
                {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"},
                {"start_date": "2026-06-01", "end_date": "2026-01-01"}):
        response = api.get("/requests.json", params=bad)
        assert response.status_code == 400 and response.json()[0]["code"] == 400, bad


def test_requests_xml_parses_and_escapes(api):
    nasty = '幸福小区垃圾<b>&"没人</b>]]><!--清运-->\x01'
    number = create(api, description=nasty, **INSIDE_XINGFU)
    response = api.get("/requests.xml", params={"api_key": "k1"})
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    [request] = root.findall("request")
    assert request.findtext("service_request_id") == number
    assert request.findtext("description") == nasty.replace("\x01", "")
    assert request.findtext("status") == "open" and request.findtext("long") == "114.3501"
    one = ET.fromstring(api.get(f"/requests/{number}.xml").content)
    assert one.findtext("request/service_request_id") == number


def test_unknown_request_is_404_in_both_formats(api):
    missing = api.get("/requests/WL20000101-0001.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404
    xml = api.get("/requests/WL20000101-0001.xml")
    assert xml.status_code == 404 and ET.fromstring(xml.content).findtext("error/code") == "404"


def test_chat_reports_are_listed_with_phone_masked_and_no_photo(api, wx):
    reply = wx.text("o-o311", "幸福小区电梯坏了，我电话 138-1234-5678，座机027-87654321")
    number = NUMBER.search(reply.text).group(0)
    [item] = api.get(f"/requests/{number}.json", params={"api_key": "k1"}).json()
    assert item["status"] == "open" and item["service_code"] == "property"
    assert "138****5678" in item["description"] and "027-****4321" in item["description"]
    assert "1234-5678" not in item["description"] and "87654321" not in item["description"]
    assert item["media_url"] is None and "o-o311" not in str(item)


def test_openapi_documents_the_endpoints(server):
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    paths = spec["paths"]
    for path in ("/open311/v2/services.{fmt}", "/open311/v2/requests.{fmt}",
                 "/open311/v2/requests/{service_request_id}.{fmt}", "/open311/v2/services/{service_code}.{fmt}"):
        assert path in paths, sorted(paths)
    post_op = paths["/open311/v2/requests.{fmt}"]["post"]
    assert post_op["tags"] == ["open311"]
    assert "application/x-www-form-urlencoded" in post_op["requestBody"]["content"]
