"""The scheduler's jobs, run on the leader process only (see bot.core.scheduler)."""

from __future__ import annotations

from bot.core.db import session_factory, session_scope
from bot.core.scheduler import Scheduler
from bot.events import ratings, supervision
from bot.notify import outbox
from bot.orders import orders
from bot.wechat import media
from bot.wechat.client import Client
from bot.wechat.push import make_sender
from settings import get_settings


def expire_ratings() -> None:
    with session_scope() as session:
        ratings.expire_unrated(session)


def expire_orders() -> None:
    with session_scope() as session:
        orders.expire_offers(session)


def start() -> Scheduler:
    scheduler = Scheduler()
    client = Client()
    send = make_sender(client)
    scheduler.every(get_settings().outbox_interval, lambda: outbox.drain(session_factory(), send), "outbox")
    scheduler.every(get_settings().media_interval, lambda: media.fetch_pending(client), "media")
    scheduler.every(3600, expire_ratings, "ratings")
    scheduler.every(60, expire_orders, "orders")
    scheduler.every(get_settings().supervision_interval, lambda: supervision.sweep(session_factory()),
                    "supervision", at_start=True)
    scheduler.start()
    return scheduler
