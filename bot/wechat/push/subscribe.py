"""订阅通知 (subscribe/bizsend): needs the user's grant; long-term grants exist for 政务民生 accounts."""

from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from bot.domain.models import OutboxMessage
from bot.notify.outbox import PushError
from bot.wechat.client import Client, call
from bot.wechat.push.errors import translate
from settings import get_settings


def send(client: Client, message: OutboxMessage) -> None:
    template_id = get_settings().wechat_subscribe_template_id
    if not template_id:
        raise PushError("no channel can reach this user: 48-hour window closed, no template ids", retry=False)
    title, _, rest = message.payload["text"].partition("\n")
    data = {"thing1": {"value": title[:20]}, "thing2": {"value": (rest or title)[:20]}}
    try:
        call(client, client.post, "message/subscribe/bizsend",
             data={"touser": message.openid, "template_id": template_id, "data": data})
    except WeChatClientException as exc:
        raise translate(exc, fallback=None) from exc
