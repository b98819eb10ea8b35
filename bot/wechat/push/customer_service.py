"""客服消息: free text, allowed within 48 hours of the user's last message."""

from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from bot.domain.models import OutboxMessage
from bot.wechat.client import Client, call
from bot.wechat.push.errors import translate


def send(client: Client, message: OutboxMessage) -> None:
    try:
        call(client, client.message.send_text, message.openid, message.payload["text"])
    except WeChatClientException as exc:
        raise translate(exc, fallback="template") from exc
