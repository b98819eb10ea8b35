"""The scheduler's jobs: named functions that receive the runtime, run on the leader process only
(see bot.core.scheduler). `register` puts them on the runtime's scheduler."""

from __future__ import annotations

from bot.core.runtime import Runtime
from bot.events import ratings, supervision
from bot.notify import outbox
from bot.orders import orders
from bot.wechat import inbox, media
from bot.wechat.client import Client
from bot.wechat.push import make_sender
from settings import get_settings


def drain_outbox(runtime: Runtime) -> None:
    outbox.drain(runtime.sessions, make_sender(runtime.component(Client)), pause=runtime.component(inbox.Load).pressed)


def handle_stored(runtime: Runtime) -> None:
    inbox.drain(runtime)


def download_media(runtime: Runtime) -> None:
    media.fetch_pending(runtime.component(Client))


def expire_ratings(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        ratings.expire_unrated(session)


def expire_order_offers(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        orders.expire_offers(session)


def sweep_supervision(runtime: Runtime) -> None:
    supervision.sweep(runtime.sessions)


def register(runtime: Runtime) -> None:
    """Every job on `runtime.jobs`, at the intervals the settings give (names as the logs show them)."""
    settings = get_settings()
    runtime.jobs.every(settings.outbox_interval, drain_outbox, "outbox")
    runtime.jobs.every(1.0, handle_stored, "inbox", at_start=True)
    runtime.jobs.every(settings.media_interval, download_media, "media")
    runtime.jobs.every(3600, expire_ratings, "ratings")
    runtime.jobs.every(60, expire_order_offers, "orders")
    runtime.jobs.every(settings.supervision_interval, sweep_supervision, "supervision", at_start=True)
