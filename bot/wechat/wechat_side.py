"""WeChat's side of the webhook: builds, signs (and in safe mode encrypts) messages as WeChat's
servers do, posts them over HTTP, and reads the reply. Used by the simulator page and the tests.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.wechat.protocol import sign

_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)


@dataclass
class Reply:
    status: int
    body: str
    xml: dict | None  # the (decrypted) reply's fields, None for an empty / "success" answer

    @property
    def text(self) -> str:
        return (self.xml or {}).get("Content") or ""


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(openid: str, msg_type: str, fields: dict[str, str | float | int], *, account: str = "gh_weilinli",
                create_time: int | None = None) -> str:
    parts = [f"<ToUserName>{_cdata(account)}</ToUserName>", f"<FromUserName>{_cdata(openid)}</FromUserName>",
             f"<CreateTime>{create_time or int(time.time())}</CreateTime>", f"<MsgType>{_cdata(msg_type)}</MsgType>"]
    for name, value in fields.items():
        parts.append(f"<{name}>{_cdata(value) if isinstance(value, str) else escape(str(value))}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


class WeChatSide:
    def __init__(self, base_url: str, token: str, *, aes_key: str = "", appid: str = "", timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def signed_params(self, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        ts, nonce = str(timestamp or int(time.time())), nonce or secrets.token_hex(8)
        return {"signature": sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "x"}

    def post_xml(self, xml: str, *, params: dict[str, str] | None = None) -> Reply:
        params = dict(params or self.signed_params())
        body = xml.encode("utf-8")
        if self.crypto is not None:
            envelope = self.crypto.encrypt_message(xml, params["nonce"], params["timestamp"])
            fields = xmltodict.parse(envelope)["xml"]
            params.update(encrypt_type="aes", msg_signature=fields["MsgSignature"])
            body = (f"<xml><ToUserName><![CDATA[gh_weilinli]]></ToUserName>"
                    f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>").encode()
        response = self.http.post(f"{self.base_url}/wechat", params=params, content=body,
                                  headers={"Content-Type": "text/xml"})
        return self.read(response)

    def read(self, response: httpx.Response) -> Reply:
        body = response.text
        if response.status_code != 200 or not body.strip().startswith("<xml"):
            return Reply(response.status_code, body, None)
        fields = xmltodict.parse(body)["xml"]
        if self.crypto is not None:
            inner = self.crypto.decrypt_message(body, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
            fields = xmltodict.parse(inner)["xml"]
        return Reply(response.status_code, body, fields)

    # -- the message kinds a user can send --
    def send(self, openid: str, msg_type: str, fields: dict, *, msg_id: int | None = None,
             create_time: int | None = None) -> Reply:
        if msg_type != "event":
            fields = {**fields, "MsgId": msg_id or next(_ids)}
        return self.post_xml(message_xml(openid, msg_type, fields, create_time=create_time))

    def text(self, openid: str, content: str, **kw) -> Reply:
        return self.send(openid, "text", {"Content": content}, **kw)

    def voice(self, openid: str, recognition: str, **kw) -> Reply:
        return self.send(openid, "voice", {"MediaId": "voice-" + secrets.token_hex(6), "Format": "amr",
                                           "Recognition": recognition}, **kw)

    def image(self, openid: str, **kw) -> Reply:
        media = "media-" + secrets.token_hex(6)
        return self.send(openid, "image", {"PicUrl": f"http://mmbiz.qpic.cn/{media}", "MediaId": media}, **kw)

    def location(self, openid: str, lat: float, lng: float, label: str = "", **kw) -> Reply:
        return self.send(openid, "location", {"Location_X": lat, "Location_Y": lng, "Scale": 15, "Label": label}, **kw)

    def link(self, openid: str, title: str, description: str, url: str, **kw) -> Reply:
        return self.send(openid, "link", {"Title": title, "Description": description, "Url": url}, **kw)

    def event(self, openid: str, event: str, key: str = "", *, create_time: int | None = None, **extra) -> Reply:
        fields = {"Event": event, **({"EventKey": key} if key or event in ("CLICK", "VIEW") else {}), **extra}
        return self.send(openid, "event", fields, create_time=create_time)
