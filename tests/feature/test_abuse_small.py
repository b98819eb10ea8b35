"""Issue 16, point 9: the smaller gaps, one test each, named after the gap (over real HTTP)."""

from __future__ import annotations

import base64
import math
import secrets
import time

import httpx
import pytest
from sqlalchemy import select

from bot.core import db
from bot.domain.models import Attachment, Event, Grid
from bot.events.casework import issue_bind_code
from bot.wechat.protocol import sign
from tests.support.admin import PASSWORD, login
from tests.support.chat import NUMBER, number_in
from tests.support.service import TOKEN


def _event(number: str) -> Event:
    with db.session_factory()() as session:
        found = session.scalar(select(Event).where(Event.number == number))
        found.attachments  # noqa: B018 - loaded while the session is open
        return found


def test_nan_and_inf_coordinates_are_refused_and_reads_survive_stored_ones(wx, clean, http):
    for lat, lng in (("NaN", "114.35"), ("30.55", "inf"), ("-Infinity", "114.35"), ("91", "114.35")):
        reply = wx.send("o-nan", "location", {"Location_X": lat, "Location_Y": lng, "Scale": 15, "Label": "x"})
        assert reply.status == 400, (lat, lng, reply.body)
        event = wx.event("o-nan", "LOCATION", Latitude=lat, Longitude=lng, Precision="30")
        assert event.status == 400
    with db.session_factory()() as session:
        assert session.scalar(select(Event.id)) is None
    number = number_in(wx.text("o-nan-old", "东亭小区路灯不亮了").text)
    with db.session_scope() as session:  # a row stored before the fix
        session.scalar(select(Event).where(Event.number == number)).lat = math.nan
    assert http.get("/open311/v2/requests.json").status_code == 200
    [item] = http.get(f"/open311/v2/requests/{number}.json").json()
    assert item["lat"] is None


def test_aes_decryption_errors_of_any_kind_are_400(wx_aes, clean, http):
    for size in (0, 1, 15, 16, 17, 32, 48):  # IndexError, struct.error, ValueError… inside wechatpy
        encrypted = base64.b64encode(secrets.token_bytes(size)).decode() or "=" * 4
        ts, nonce = str(int(time.time())), secrets.token_hex(8)
        params = {
            "signature": sign(TOKEN, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": sign(TOKEN, ts, nonce, encrypted),
        }
        body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        answer = http.post("/wechat", params=params, content=body.encode())
        assert answer.status_code == 400, (size, answer.status_code, answer.text)


def test_a_stored_javascript_link_is_not_rendered_as_href(site, wx):
    reply = wx.link("o-js", "东亭小区路灯不亮", "路灯坏了", "javascript:alert(document.cookie)")
    number = number_in(reply.text)
    assert all(a.url is None for a in _event(number).attachments)  # not kept from chat
    with db.session_scope() as session:  # one stored before the fix
        found = session.scalar(select(Event).where(Event.number == number))
        session.add(Attachment(event=found, kind="image", url="JavaScript:alert(2)"))
    client, _ = login(site, "disp1")
    page = client.get(f"/admin/events/{number}").text
    assert "javascript:" not in page.lower()


def test_a_cross_site_form_post_to_api_login_is_refused(site, http):
    form = {"username": "disp1", "password": PASSWORD}
    forged = http.post("/api/login", data=form, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "wl_session" not in forged.cookies
    same = http.post("/api/login", data=form, headers={"Origin": site.app_url})
    assert same.status_code == 200 and same.json()["username"] == "disp1"


def test_nul_characters_and_huge_integers_are_400_not_500(site):
    site.configure(open311_keys="k-nul")
    client, csrf = login(site, "disp1")
    headers = {"X-CSRF-Token": csrf}
    number, big = site.numbers["light"], 99_999_999_999_999
    answers = {
        "list, huge grid": client.get("/api/events", params={"grid": big}),
        "list, NUL search": client.get("/api/events", params={"q": "a\x00b"}),
        "media, huge id": client.get(f"/admin/media/{big}"),
        "event, NUL number": client.get("/api/events/WL%00"),
        "assign, huge worker": client.post(f"/api/events/{number}/assign", json={"worker_id": big}, headers=headers),
        "reject, NUL reason": client.post(f"/api/events/{number}/reject", json={"reason": "a\x00b"}, headers=headers),
        "worker, huge id": client.post(f"/api/workers/{big}", json={"name": "甲"}, headers=headers),
        "new worker, huge grid": client.post(
            "/api/workers", json={"name": "甲", "phone": "13700000001", "grid_id": big}, headers=headers
        ),
        "bind code, huge id": client.post(f"/api/workers/{big}/bind-code", headers=headers),
        "open311, NUL id": client.get("/open311/v2/requests.json", params={"service_request_id": "WL\x00"}),
        "open311, NUL text": client.post(
            "/open311/v2/requests.json",
            data={"api_key": "k-nul", "description": "路灯\x00不亮", "lat": "30.5572", "long": "114.3501"},
        ),
        "page, huge grid": client.get("/admin/events", params={"grid": big}),
    }
    failed = {name: (r.status_code, r.text[:100]) for name, r in answers.items() if r.status_code >= 500}
    assert not failed, failed
    assert answers["reject, NUL reason"].status_code == 400
    assert _event(number).status != "rejected"


def test_overlong_msgid_openid_mediaid_do_not_lose_the_message(wx, clean):
    long_id = int("9" * 200)  # past the 64-character MsgId a column could hold: the key is hashed
    first = wx.text("o-long-msgid", "东亭小区路灯不亮了", msg_id=long_id)
    assert NUMBER.search(first.text), first.body
    assert wx.text("o-long-msgid", "东亭小区路灯不亮了", msg_id=long_id).text == first.text  # a retry: once
    photo = wx.send("o-long-media", "image", {"PicUrl": "http://mmbiz.qpic.cn/x", "MediaId": "m" * 300})
    assert photo.status == 200 and photo.text, photo.body  # processed (the oversized media id dropped)
    assert wx.text("o" * 100, "东亭小区路灯不亮了").status == 400  # no WeChat user has such an OpenID
    with db.session_factory()() as session:
        assert session.query(Event).count() >= 1


def test_a_scoped_dispatcher_cannot_create_a_worker_without_a_grid(site):
    client, csrf = login(site, "shuiguohu")
    answer = client.post(
        "/api/workers", json={"name": "无网格", "phone": "13700000002"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 400 and "网格" in answer.json()["detail"]


def test_a_viewer_can_log_out_through_the_api(site):
    client, csrf = login(site, "viewer1")
    assert client.get("/api/me").status_code == 200
    assert client.post("/api/logout").status_code == 403  # the CSRF token is still required
    cookie = client.cookies.get("wl_session")
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    with httpx.Client(base_url=site.app_url, cookies={"wl_session": cookie}) as stale:  # the old cookie is dead
        assert stale.get("/api/me").status_code == 401


def test_a_password_change_ends_other_sessions_and_an_admin_can_disable_a_user(site):
    phone, phone_csrf = login(site, "disp1")
    desk, desk_csrf = login(site, "disp1")
    changed = desk.post(
        "/api/password", json={"current": PASSWORD, "new": "n3w-passw0rd"}, headers={"X-CSRF-Token": desk_csrf}
    )
    assert changed.status_code == 200
    assert phone.get("/api/me").status_code == 401 and desk.get("/api/me").status_code == 200
    wrong = desk.post(
        "/api/password", json={"current": "nope", "new": "whatever123"}, headers={"X-CSRF-Token": desk_csrf}
    )
    assert wrong.status_code == 400
    with httpx.Client(base_url=site.app_url) as fresh:
        assert fresh.post("/api/login", json={"username": "disp1", "password": PASSWORD}).status_code == 401
    admin, admin_csrf = login(site, "admin1")
    assert desk.post("/api/users/viewer1/disable", headers={"X-CSRF-Token": desk_csrf}).status_code == 403
    disabled = admin.post("/api/users/disp1/disable", headers={"X-CSRF-Token": admin_csrf})
    assert disabled.json() == {"username": "disp1", "active": False}
    assert desk.get("/api/me").status_code == 401  # its sessions ended at once
    with httpx.Client(base_url=site.app_url) as fresh:
        assert fresh.post("/api/login", json={"username": "disp1", "password": "n3w-passw0rd"}).status_code == 401
        admin.post("/api/users/disp1/enable", headers={"X-CSRF-Token": admin_csrf})
        assert fresh.post("/api/login", json={"username": "disp1", "password": "n3w-passw0rd"}).status_code == 200


def test_bind_codes_cannot_be_guessed_across_many_openids(wx, clean):
    for i in range(50):  # one wrong guess each from 50 accounts: no per-OpenID limit is reached
        assert "无效" in wx.text(f"o-guess-{i}", "绑定 000000").text
    with db.session_scope() as session:
        code = issue_bind_code(session, "13800000004")  # a real code, issued now
    assert "过多" in wx.text("o-guess-next", f"绑定 {code}").text  # 绑定 pauses for everyone


def test_the_retry_key_includes_the_sender(wx, clean):
    shared = 7_000_000_000_000 + secrets.randbelow(10**9)
    first = wx.text("o-sender-a", "东亭小区路灯不亮了", msg_id=shared)
    second = wx.text("o-sender-b", "翠柳小区垃圾没人清运", msg_id=shared)
    assert number_in(first.text) != number_in(second.text)


def test_api_responses_are_not_cached(site, http):
    assert http.get("/api/me").headers["cache-control"] == "no-store"
    answer = http.post("/api/login", json={"username": "disp1", "password": PASSWORD})
    assert answer.headers["cache-control"] == "no-store"
    assert http.get("/api/events").headers["cache-control"] == "no-store"


def test_showcase_has_csp_and_frame_options(clean, http):
    page = http.get("/showcase")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_voice_reports_keep_their_audio(wx, clean):
    reply = wx.voice("o-voice", "东亭小区路灯不亮了晚上很黑")
    number = number_in(reply.text)
    [voice] = [a for a in _event(number).attachments if a.kind == "voice"]
    assert voice.media_id and voice.media_id.startswith("voice-")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not voice.local_path:
        time.sleep(0.2)
        [voice] = [a for a in _event(number).attachments if a.kind == "voice"]
    assert voice.local_path  # downloaded within WeChat's 3-day media lifetime


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_alias_cell_keeps_existing_aliases(site, tmp_path, empty):
    client, csrf = login(site, "disp1")
    header = "区,街道,社区,网格,别名,网格员,手机号\n"
    row = "武昌区,水果湖街道,东亭社区,东亭一网格,{aliases},,\n"
    with db.session_factory()() as session:
        before = session.scalar(select(Grid.aliases).where(Grid.name == "东亭一网格"))
    assert before
    upload = (header + row.format(aliases=empty)).encode()
    answer = client.post("/api/grids/import", files={"file": ("grids.csv", upload)}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200, answer.text
    with db.session_factory()() as session:
        assert session.scalar(select(Grid.aliases).where(Grid.name == "东亭一网格")) == before
    renamed = (header + row.format(aliases="东亭新村")).encode()
    again = client.post("/api/grids/import", files={"file": ("grids.csv", renamed)}, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 200, again.text
    with db.session_factory()() as session:
        assert session.scalar(select(Grid.aliases).where(Grid.name == "东亭一网格")) == "东亭新村"
