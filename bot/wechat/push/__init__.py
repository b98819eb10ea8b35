"""Push channels behind one interface, one module each (like FixMyStreet's SendReport/*).

A channel sends one outbox message or raises `PushError`, naming a fallback channel when WeChat
says this one cannot reach the user (45015: the 48-hour window is closed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from bot.core.db import session_factory, utcnow
from bot.domain.models import OutboxMessage, Resident
from bot.notify.outbox import PushError
from bot.wechat.client import Client
from bot.wechat.push import customer_service, subscribe, template

CHANNELS = {
    "customer_service": customer_service.send,
    "template": template.send,
    "subscribe": subscribe.send,
}
SERVICE_WINDOW = timedelta(hours=48)


def in_service_window(openid: str) -> bool:
    with session_factory()() as session:
        last = session.scalar(select(Resident.last_message_at).where(Resident.openid == openid))
    return last is not None and utcnow() - last < SERVICE_WINDOW


def make_sender(client: Client) -> Callable[[OutboxMessage], None]:
    def send(message: OutboxMessage) -> None:
        if message.channel == "customer_service" and not in_service_window(message.openid):
            raise PushError("outside the 48-hour customer-service window", fallback="template")
        channel = CHANNELS.get(message.channel)
        if channel is None:
            raise PushError(f"unknown channel {message.channel}", retry=False)
        channel(client, message)

    return send
