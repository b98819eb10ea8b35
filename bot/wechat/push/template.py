"""模板消息: reaches followers outside the 48-hour window (verified 服务号)."""

from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from bot.domain.models import OutboxMessage
from bot.notify.outbox import PushError
from bot.wechat.client import Client, call
from bot.wechat.push.errors import translate
from settings import get_settings


def template_data(text: str) -> dict:
    title, _, rest = text.partition("\n")
    rest = rest.strip()  # a digest's first line is its header, then a blank line
    return {"first": {"value": title}, "keyword1": {"value": rest[:200] or title}, "remark": {"value": ""}}


def send(client: Client, message: OutboxMessage) -> None:
    template_id = get_settings().wechat_template_id
    if not template_id:
        raise PushError("no template id configured", fallback="subscribe")
    try:
        call(client, client.message.send_template, message.openid, template_id,
             template_data(message.payload["text"]), url=message.payload.get("url"))
    except WeChatClientException as exc:
        raise translate(exc, fallback="subscribe") from exc
