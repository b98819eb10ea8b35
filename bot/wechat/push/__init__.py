"""Push channels behind one interface, one module each (like FixMyStreet's SendReport/*).

A channel sends one outbox message or raises `PushError`, naming a fallback channel when WeChat
says this one cannot reach the user (45015: the 48-hour window is closed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.db import session_factory, utcnow
from bot.domain.models import OutboxMessage, Resident
from bot.notify.outbox import MaybeSent, PushError
from bot.wechat.client import Client
from bot.wechat.push import customer_service, subscribe, template
from settings import get_settings

CHANNELS = {
    "customer_service": customer_service.send,
    "template": template.send,
    "subscribe": subscribe.send,
}
SERVICE_WINDOW = timedelta(hours=48)


def in_service_window(openid: str) -> bool:
    with session_factory()() as session:
        last = session.scalar(select(Resident.last_message_at).where(Resident.openid == openid))
    return _open(last)


def _open(last_message_at: datetime | None) -> bool:
    return last_message_at is not None and utcnow() - last_message_at < SERVICE_WINDOW


NO_TEMPLATE = ("未配置模板消息 ID（WEILINLI_WECHAT_TEMPLATE_ID）：48 小时客服窗口之外的网格员和居民收不到推送，"
               "这些推送将等待对方再次发消息后发出，超过期限进入死信")


def template_warnings() -> list[str]:
    """What the operator must fix for pushes to reach people outside the 48-hour window."""
    s = get_settings()
    return [] if s.wechat_template_id or s.wechat_subscribe_template_id else [NO_TEMPLATE]


class Sender:
    """Sends one outbox message on its channel; `prepare` looks up the service window of a whole
    batch's recipients in one query (the outbox drain calls it), instead of a session per push."""

    def __init__(self, client: Client):
        self.client = client
        self.windows: dict[str, bool] = {}

    def prepare(self, session: Session, messages: list[OutboxMessage]) -> None:
        openids = {m.openid for m in messages if m.channel == "customer_service"}
        self.windows = dict.fromkeys(openids, False)
        if openids:
            rows = session.execute(select(Resident.openid, Resident.last_message_at)
                                   .where(Resident.openid.in_(openids)))
            self.windows.update((openid, _open(last)) for openid, last in rows)

    def in_window(self, openid: str) -> bool:
        known = self.windows.get(openid)
        return in_service_window(openid) if known is None else known

    def choose(self, message: OutboxMessage) -> str:
        """The channel that reaches the recipient now: a customer-service message outside the
        48-hour window goes as a template message instead (no request is wasted on 45015)."""
        if message.channel == "customer_service" and not self.in_window(message.openid):
            if template_warnings():  # no channel reaches them now: wait for the window to reopen
                raise PushError("outside the 48-hour window and no template id configured", retry=True)
            return "template"
        return message.channel

    def __call__(self, message: OutboxMessage) -> None:
        chosen = self.choose(message)
        if chosen != message.channel:
            raise PushError("outside the 48-hour customer-service window", fallback=chosen)
        channel = CHANNELS.get(message.channel)
        if channel is None:
            raise PushError(f"unknown channel {message.channel}", retry=False)
        try:
            channel(self.client, message)
        except requests.exceptions.ReadTimeout as exc:  # sent, unanswered: WeChat may have taken it
            raise MaybeSent(f"no answer within {get_settings().wechat_send_timeout:g} s: may have been delivered") \
                from exc


def make_sender(client: Client) -> Sender:
    return Sender(client)
