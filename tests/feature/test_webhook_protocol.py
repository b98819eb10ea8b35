"""The WeChat protocol at the HTTP boundary: signatures, timestamps, hostile XML, retries, AES."""

from __future__ import annotations

import threading
import time

import xmltodict
from sqlalchemy import func, select

from bot.core import db
from bot.domain.models import Event, Resident, TimelineEntry
from bot.wechat.protocol import sign
from bot.wechat.wechat_side import message_xml
from tests.support.chat import NUMBER


def count(model) -> int:
    with db.session_factory()() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_url_verification_echoes_echostr(wx, http):
    params = wx.signed_params()
    response = http.get("/wechat", params={**params, "echostr": "8765309"})
    assert response.status_code == 200
    assert response.text == "8765309"


def test_url_verification_with_forged_signature_is_403(wx, http):
    params = {**wx.signed_params(), "signature": "0" * 40, "echostr": "x"}
    assert http.get("/wechat", params=params).status_code == 403


def test_forged_signature_is_403_and_writes_nothing(wx):
    params = {**wx.signed_params(), "signature": sign("wrong-token", "1", "2")}
    reply = wx.post_xml(message_xml("o-forger", "text", {"Content": "幸福小区路灯不亮", "MsgId": 1}), params=params)
    assert reply.status == 403
    assert count(Event) == 0 and count(Resident) == 0


def test_stale_timestamp_is_403(wx):
    old = int(time.time()) - 3600
    reply = wx.post_xml(message_xml("o-late", "text", {"Content": "路灯不亮", "MsgId": 2}),
                        params=wx.signed_params(timestamp=old))
    assert reply.status == 403
    assert count(Event) == 0


def test_malformed_xml_is_400(wx):
    for body in ["<xml><ToUserName>a</ToUserName", "not xml at all", "<xml></xml>",
                 "<xml><MsgType>text</MsgType></xml>",
                 "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><FromUserName>c</FromUserName>"
                 "<MsgType>text</MsgType><Content>x</Content></xml>"]:
        response = wx.http.post(f"{wx.base_url}/wechat", params=wx.signed_params(), content=body.encode())
        assert response.status_code == 400, body
    assert count(Event) == 0 and count(Resident) == 0


def test_doctype_and_entities_are_refused(wx):
    bomb = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            "<xml><ToUserName>a</ToUserName><FromUserName>o-bomb</FromUserName><CreateTime>1</CreateTime>"
            "<MsgType>text</MsgType><Content>&b;</Content><MsgId>3</MsgId></xml>")
    xxe = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           "<xml><ToUserName>a</ToUserName><FromUserName>o-xxe</FromUserName><CreateTime>1</CreateTime>"
           "<MsgType>text</MsgType><Content>&x;</Content><MsgId>4</MsgId></xml>")
    for body in (bomb, xxe):
        response = wx.http.post(f"{wx.base_url}/wechat", params=wx.signed_params(), content=body.encode())
        assert response.status_code == 400
        assert "root:" not in response.text
    assert count(Event) == 0


def test_oversized_body_is_refused(wx):
    big = message_xml("o-big", "text", {"Content": "垃圾" * 200_000, "MsgId": 5})
    response = wx.http.post(f"{wx.base_url}/wechat", params=wx.signed_params(), content=big.encode())
    assert response.status_code in (400, 413)
    assert count(Event) == 0


def test_invalid_utf8_is_400(wx):
    body = b"<xml><ToUserName>a</ToUserName><FromUserName>o-bad</FromUserName><MsgType>text</MsgType>" \
           b"<Content>\xff\xfe\xfa</Content></xml>"
    response = wx.http.post(f"{wx.base_url}/wechat", params=wx.signed_params(), content=body)
    assert response.status_code == 400


def test_cdata_terminator_in_user_text_cannot_forge_reply_elements(wx):
    evil = "幸福小区路灯不亮]]></Content><MsgType><![CDATA[news]]></MsgType><Content><![CDATA[pwned"
    reply = wx.text("o-injector", f"补充 WL20260101-0001 {evil}")
    assert reply.status == 200
    parsed = xmltodict.parse(reply.body)["xml"]
    assert parsed["MsgType"] == "text"  # one MsgType, not a list: nothing was forged
    report = wx.text("o-injector", evil)
    fields = xmltodict.parse(report.body)["xml"]
    assert fields["MsgType"] == "text"
    assert isinstance(fields["Content"], str)


def test_openid_with_cdata_terminator_is_escaped_in_reply(wx):
    reply = wx.event("o-x]]><MsgType>news</MsgType>", "subscribe")
    fields = xmltodict.parse(reply.body)["xml"]
    assert fields["MsgType"] == "text"
    assert fields["ToUserName"] == "o-x]]><MsgType>news</MsgType>"


def test_subscribe_and_location_in_the_same_second_are_both_processed(wx):
    now = int(time.time())
    first = wx.event("o-same-second", "subscribe", create_time=now)
    second = wx.event("o-same-second", "LOCATION", create_time=now, Latitude=30.5572, Longitude=114.3501,
                      Precision=30)
    assert "欢迎" in first.text
    assert second.status == 200 and second.body in ("success", "")
    with db.session_factory()() as session:
        person = session.scalar(select(Resident).where(Resident.openid == "o-same-second"))
        assert person.grid is not None and person.grid.name == "幸福家园网格"


def test_three_retries_create_one_event_and_get_the_same_answer(wx):
    replies = [wx.text("o-retry", "东亭小区门口路灯不亮了好几天", msg_id=987654321) for _ in range(3)]
    assert all(r.status == 200 for r in replies)
    numbers = {NUMBER.search(r.text).group(0) for r in replies}
    assert len(numbers) == 1
    assert count(Event) == 1


def test_event_retries_are_deduplicated_by_sender_and_create_time(wx):
    now = int(time.time())
    for _ in range(3):
        wx.event("o-evt-retry", "subscribe", create_time=now)
    with db.session_factory()() as session:
        entries = session.scalar(select(func.count()).select_from(Resident).where(Resident.openid == "o-evt-retry"))
    assert entries == 1


def test_retry_arriving_while_first_attempt_runs_is_answered_without_processing_twice(wx, monkeypatch):
    import handlers

    original = handlers.dispatch

    def slow_dispatch(ctx):
        time.sleep(1.0)
        return original(ctx)

    monkeypatch.setattr("bot.wechat.inbox.handlers.dispatch", slow_dispatch)
    results = []
    xml = message_xml("o-slow", "text", {"Content": "翠柳小区垃圾没人收，臭死了", "MsgId": 55501})

    def post():
        results.append(wx.post_xml(xml))

    threads = [threading.Thread(target=post) for _ in range(3)]
    for i, t in enumerate(threads):
        t.start()
        time.sleep(0.1 if i == 0 else 0.05)
    for t in threads:
        t.join()
    assert count(Event) == 1
    assert all(r.status == 200 for r in results)
    with_number = [r for r in results if NUMBER.search(r.text)]
    assert with_number, [r.body for r in results]
    assert len({NUMBER.search(r.text).group(0) for r in with_number}) == 1


def test_unknown_message_type_is_answered_politely(wx):
    reply = wx.send("o-video", "video", {"MediaId": "m1", "ThumbMediaId": "t1"})
    assert reply.status == 200
    assert "暂不支持" in reply.text
    assert count(Event) == 0


def test_subscribe_message_event_is_handled_gracefully(wx):
    reply = wx.event("o-sub", "subscribe_msg_popup_event", SubscribeMsgPopupEvent="x")
    assert reply.status == 200


def test_aes_safe_mode_round_trip(wx_aes):
    reply = wx_aes.text("o-aes", "幸福小区3栋楼道灯不亮")
    assert reply.status == 200
    assert "<Encrypt>" in reply.body and "幸福小区" not in reply.body
    assert NUMBER.search(reply.text)


def test_aes_forged_msg_signature_is_403(wx_aes):
    params = wx_aes.signed_params()
    envelope = wx_aes.crypto.encrypt_message(message_xml("o-aes2", "text", {"Content": "x", "MsgId": 9}),
                                             params["nonce"], params["timestamp"])
    encrypt = xmltodict.parse(envelope)["xml"]["Encrypt"]
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    response = wx_aes.http.post(f"{wx_aes.base_url}/wechat", content=body,
                                params={**params, "encrypt_type": "aes", "msg_signature": "f" * 40})
    assert response.status_code == 403
    assert count(Event) == 0


def test_aes_replay_of_a_captured_delivery_with_another_envelope_is_403(wx_aes):
    """In safe mode msg_signature covers the encrypted body: a captured delivery's signatures
    replayed with another envelope are refused, and its own retry still gets the first answer."""
    params = wx_aes.signed_params()

    def envelope(openid: str, content: str, msg_id: int) -> tuple[bytes, str]:
        xml = wx_aes.crypto.encrypt_message(message_xml(openid, "text", {"Content": content, "MsgId": msg_id}),
                                            params["nonce"], params["timestamp"])
        parsed = xmltodict.parse(xml)["xml"]
        body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{parsed['Encrypt']}]]></Encrypt></xml>"
        return body.encode(), parsed["MsgSignature"]

    def post(body: bytes, msg_signature: str):
        return wx_aes.http.post(f"{wx_aes.base_url}/wechat", content=body,
                                params={**params, "encrypt_type": "aes", "msg_signature": msg_signature})

    body, signature = envelope("o-aes-replay", "东亭小区路灯不亮", 778001)
    first = post(body, signature)
    assert first.status_code == 200 and "<Encrypt>" in first.text
    assert post(body, signature).status_code == 200  # WeChat's retry: the same envelope
    forged, _ = envelope("o-aes-attacker", "恶意内容", 778002)
    assert post(forged, signature).status_code == 403
    assert count(Event) == 1


def test_aes_mode_refuses_plaintext_posts(clean):
    clean.configure(wechat_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    plain = clean.wechat(aes=False)
    reply = plain.text("o-plain", "路灯不亮")
    assert reply.status == 403
    assert count(Event) == 0


def test_timeline_row_written_for_every_event(wx):
    wx.text("o-tl", "东亭小区路灯不亮")
    assert count(TimelineEntry) >= 1


def test_replayed_signature_with_another_body_is_refused(wx):
    params = wx.signed_params()
    body = message_xml("o-replay", "text", {"Content": "东亭小区路灯不亮", "MsgId": 777001})
    first = wx.post_xml(body, params=params)
    assert first.status == 200
    retry = wx.post_xml(body, params=params)
    assert retry.status == 200 and NUMBER.search(retry.text)  # WeChat's retry: same body, same answer
    forged = wx.post_xml(message_xml("o-attacker", "text", {"Content": "恶意内容", "MsgId": 777002}), params=params)
    assert forged.status == 403
    assert count(Event) == 1


def test_hostile_text_is_stored_verbatim_and_harmless(wx):
    nasty = "'); DROP TABLE event; -- <script>alert(1)</script> 🚧\u202e東亭小区路灯不亮"
    reply = wx.text("o-nasty", nasty)
    assert reply.status == 200 and NUMBER.search(reply.text)
    with db.session_factory()() as session:
        stored = session.scalar(select(Event.text))
    assert "DROP TABLE" in stored and "<script>" in stored and "🚧" in stored
    assert count(Event) == 1


def test_control_characters_are_malformed_xml(wx):
    reply = wx.text("o-ctrl", "东亭小区\x00路灯\x07不亮")
    assert reply.status == 400
    assert count(Event) == 0
