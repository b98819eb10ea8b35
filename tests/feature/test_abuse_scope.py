"""Issue 16, points 6–8: rules edits stay within scope and in WEILINLI_RULES_FILE, spreadsheet imports
are bounded and off the event loop, keyless Open311 reads are coarse."""

from __future__ import annotations

import io
import threading
import time
import zipfile

import httpx
import pytest

import nlp
from bot.core import db
from bot.domain.models import Event
from bot.events import intake
from nlp.rules import DEFAULT_RULES_PATH
from tests.support.admin import login
from tests.support.chat import number_in

# ----------------------------------------------------------------------------- 6: rules


@pytest.fixture
def packaged_rules():
    """The packaged rules file's bytes; afterwards the packaged rules are active again."""
    before = DEFAULT_RULES_PATH.read_bytes()
    yield before
    nlp.reload_rules(DEFAULT_RULES_PATH)
    assert DEFAULT_RULES_PATH.read_bytes() == before


def test_a_street_scoped_dispatcher_cannot_rewrite_the_districts_rules(site, packaged_rules, tmp_path):
    site.configure(rules_file=str(tmp_path / "rules.toml"))
    client, csrf = login(site, "shuiguohu")  # 水果湖街道's dispatcher
    text = packaged_rules.decode().replace('"路灯+不亮"', '"路灯+不亮", "路灯"', 1)
    answer = client.put("/api/rules", json={"text": text}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403 and "未限定辖区" in answer.json()["detail"]
    rollback = client.post("/api/rules/rollback", headers={"X-CSRF-Token": csrf})
    assert rollback.status_code == 403
    assert not (tmp_path / "rules.toml").exists()
    # validating is still open to them (it changes nothing)
    checked = client.post("/api/rules/validate", json={"text": text}, headers={"X-CSRF-Token": csrf})
    assert checked.json() == {"ok": True}


def test_without_a_rules_file_the_packaged_rules_are_read_only(site, packaged_rules):
    client, csrf = login(site, "admin1")
    shown = client.get("/api/rules").json()
    assert shown["writable"] is False and shown["previous"] is False
    answer = client.put(
        "/api/rules", json={"text": packaged_rules.decode() + "\n# edited\n"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 409 and "WEILINLI_RULES_FILE" in answer.json()["detail"]
    broken = client.put("/api/rules", json={"text": "[[[ broken"}, headers={"X-CSRF-Token": csrf})
    assert broken.status_code == 400 and "原规则继续生效" in broken.json()["detail"]


def test_rules_are_saved_to_the_rules_file_with_the_previous_version_rolled_back(site, packaged_rules, tmp_path):
    target = tmp_path / "rules.toml"
    site.configure(rules_file=str(target))
    client, csrf = login(site, "disp1")
    headers = {"X-CSRF-Token": csrf}
    assert client.post("/api/rules/rollback", headers=headers).status_code == 409  # nothing to go back to
    before = client.post("/api/rules/test", json={"text": "小区里养了好多鸽子"}).json()["category"]
    edited = packaged_rules.decode() + (
        '\n[categories.pigeons]\nlabel = "鸽子扰民"\n[categories.pigeons.keywords]\n"鸽子" = 9\n'
    )
    saved = client.put("/api/rules", json={"text": edited}, headers=headers)
    assert saved.status_code == 200, saved.text
    assert target.read_text(encoding="utf-8") == edited
    assert (tmp_path / "rules.toml.previous").read_bytes() == packaged_rules  # the version replaced
    shown = client.get("/api/rules").json()
    assert shown["path"] == str(target) and shown["writable"] and shown["previous"]
    assert client.post("/api/rules/test", json={"text": "小区里养了好多鸽子"}).json()["category"] == "pigeons"

    back = client.post("/api/rules/rollback", headers=headers)
    assert back.status_code == 200 and set(back.json()) >= {"path", "text", "categories"}
    assert back.json()["text"].encode() == packaged_rules and target.read_bytes() == packaged_rules
    assert client.post("/api/rules/test", json={"text": "小区里养了好多鸽子"}).json()["category"] == before
    assert (tmp_path / "rules.toml.previous").read_text(encoding="utf-8") == edited  # a rollback can be undone
    again = client.post("/api/rules/rollback", headers=headers)
    assert again.json()["text"] == edited


# ----------------------------------------------------------------------------- 7: spreadsheets

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
    '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
    'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
HEADER = "区,街道,社区,网格,别名,网格员,手机号".split(",")


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def xlsx(rows: int, shared_strings_mb: int = 0) -> bytes:
    """A workbook written the way a hostile file is: `rows` data rows with no <dimension>, or a
    shared-strings part of `shared_strings_mb` MB that compresses to almost nothing."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheetData><row r="1">'
                + "".join(_cell(f"{chr(65 + i)}1", h) for i, h in enumerate(HEADER)).encode()
                + b"</row>"
            )
            for n in range(2, rows + 2):
                sheet.write(f'<row r="{n}">{_cell(f"A{n}", "区")}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
        if shared_strings_mb:
            with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as strings:
                strings.write(
                    b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                )
                block = b"<si><t>" + b"a" * 1000 + b"</t></si>"
                for _ in range(shared_strings_mb * 1024):
                    strings.write(block)
                strings.write(b"</sst>")
    return out.getvalue()


def _import(client: httpx.Client, csrf: str, data: bytes) -> httpx.Response:
    return client.post("/api/grids/import", files={"file": ("grids.xlsx", data)}, headers={"X-CSRF-Token": csrf})


def _health_while(url: str, work) -> tuple[object, float]:
    """Run `work()` while /healthz is polled; (its result, the slowest /healthz in seconds)."""
    slowest, done = 0.0, threading.Event()

    def poll():
        nonlocal slowest
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get(f"{url}/healthz").raise_for_status()
                slowest = max(slowest, time.perf_counter() - started)
                time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        result = work()
    finally:
        done.set()
        poller.join(timeout=30)
    return result, slowest


def test_a_300k_row_spreadsheet_is_refused_without_freezing_the_service(site):
    data = xlsx(300_000)
    client, csrf = login(site, "disp1", timeout=120)
    answer, slowest = _health_while(site.app_url, lambda: _import(client, csrf, data))
    print(f"300k-row xlsx of {len(data) // 1024} KB: {answer.status_code}, slowest /healthz {slowest * 1000:.0f} ms")
    assert answer.status_code == 400, answer.text
    assert "已拒绝" in str(answer.json()) or "上限" in str(answer.json())
    assert slowest < 1.0


def test_the_row_limit_refuses_a_long_sheet_and_takes_one_within_it(site):
    site.configure(max_import_rows=1000)
    client, csrf = login(site, "disp1", timeout=60)
    long = _import(client, csrf, xlsx(1500))
    assert long.status_code == 400 and "上限 1001 行" in str(long.json()), long.text
    short = _import(client, csrf, xlsx(10))  # within the limit: read, then refused row by row (no 街道)
    assert short.status_code == 400 and "第2行" in str(short.json())


def test_a_shared_strings_bomb_is_refused_before_parsing(site):
    data = xlsx(1, shared_strings_mb=200)
    client, csrf = login(site, "disp1", timeout=60)
    answer = _import(client, csrf, data)
    print(f"shared-strings bomb: {len(data) // 1024} KB packed, 200 MB unpacked: {answer.status_code}")
    assert answer.status_code == 400 and "已拒绝" in str(answer.json()), answer.text


# ----------------------------------------------------------------------------- 8: Open311


def test_keyless_open311_reads_are_coarse_and_keep_no_resident_text(wx, clean, http):
    clean.configure(open311_keys="k311")
    number = number_in(wx.text("o-311-coarse", "我叫李小红，幸福小区3栋门口的路灯不亮了").text)
    with db.session_scope() as session:  # where the resident stood, to six decimals
        found = session.query(Event).filter_by(number=number).one()
        found.lat, found.lng = 30.557217, 114.350139
    [item] = http.get(f"/open311/v2/requests/{number}.json").json()
    assert "李小红" not in str(item) and "3栋" not in str(item) and "门口" not in str(item)
    assert item["description"].startswith(nlp.category_label(item["service_code"]))
    assert item["media_url"] is None
    assert (item["lat"], item["long"]) == (30.557, 114.35)  # ~100 m: the block, not the door
    assert item["address"] and "网格" in item["address"]  # the grid, not the resident's words
    [full] = http.get(f"/open311/v2/requests/{number}.json", params={"api_key": "k311"}).json()
    assert "李小红" in full["description"] and (full["lat"], full["long"]) == (30.557217, 114.350139)
    listed = http.get("/open311/v2/requests.json").json()
    assert all("李小红" not in str(i) for i in listed)
    assert http.get("/open311/v2/requests.json", params={"api_key": "nope"}).json() == listed


def test_keyless_open311_lists_at_most_100(clean, http):
    clean.configure(open311_keys="k311")
    with db.session_scope() as session:
        for i in range(105):
            intake.report(session, intake.Report(openid=f"o-311-many-{i}", text=f"东亭小区{i}号楼路灯不亮"))
    assert len(http.get("/open311/v2/requests.json").json()) == 100
    assert len(http.get("/open311/v2/requests.json", params={"api_key": "k311"}).json()) == 105
    with db.session_factory()() as session:
        assert session.query(Event).count() == 105


def test_the_rules_file_setting_is_where_classify_reads_the_rules(tmp_path, packaged_rules):
    import json
    import subprocess
    import sys

    target = tmp_path / "rules.toml"
    target.write_bytes(
        packaged_rules
        + '\n[categories.pigeons]\nlabel = "鸽子扰民"\n[categories.pigeons.keywords]\n"鸽子" = 9\n'.encode()
    )
    line = json.dumps({"id": 1, "text": "小区里养了好多鸽子"}, ensure_ascii=False)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WEILINLI_RULES_FILE": str(target)}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "classify"], input=line, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["category"] == "pigeons"
