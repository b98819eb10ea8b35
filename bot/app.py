"""The app factory: wires the WeChat adapter, admin/API, the scheduler and (demo) the simulator.

Only the CLI and the tests import this module.
"""

from __future__ import annotations

import logging
import sys
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import select, text

import nlp
from admin import api as admin_api
from admin import orders_api, rates_api
from admin import pages as admin_pages
from admin import pages_api as admin_pages_api
from bot import open311, orders, outbox, ratings, showcase, supervision
from bot.db import get_engine, session_factory, session_scope
from bot.models import Grid
from bot.scheduler import Scheduler
from bot.store import get_store
from bot.wechat import media
from bot.wechat.client import Client
from bot.wechat.push import make_sender
from bot.wechat.webhook import router as webhook_router
from settings import get_settings

log = logging.getLogger(__name__)


def load_place_words() -> int:
    """Teach the tokenizer every grid name and alias, so places survive segmentation."""
    with session_factory()() as session:
        words = set()
        for name, aliases in session.execute(select(Grid.name, Grid.aliases)):
            words.add(name)
            words.update(a for a in (aliases or "").split("|") if a)
    nlp.add_user_words(sorted(words), places=True)
    return len(words)


def expire_ratings() -> None:
    with session_scope() as session:
        ratings.expire_unrated(session)


def expire_orders() -> None:
    with session_scope() as session:
        orders.expire_offers(session)


def start_jobs() -> Scheduler:
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


def create_app(*, run_scheduler: bool = True) -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Blocking handlers run in this many threads. More only contend for the GIL and hold more
        # database transactions open at once; the rest wait their turn on the event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        # Handler threads wait on a database or Redis answer ~20 times per report; each time they
        # want the GIL back, a busy thread (the outbox drain, another handler) may keep it for the
        # whole switch interval: CPython's 5 ms × 20 became the reply's tail latency (bench: p99
        # 942 ms at half load on one process, 49 ms with 1 ms).
        sys.setswitchinterval(0.001)
        if settings.effective_database_url.startswith("sqlite"):
            from bot.migrate import upgrade  # Alembic is slow to import: only where it runs

            upgrade()
        get_engine()
        store = get_store()
        log.info("store: %s", "embedded in-process (single process only)" if store.embedded else "Redis")
        log.info("place words loaded: %d", load_place_words())
        scheduler = start_jobs() if run_scheduler else None
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()

    app = FastAPI(title="微邻里 weilinli", version="0.1.0", lifespan=lifespan)
    app.include_router(webhook_router)
    app.include_router(admin_api.router)
    app.include_router(orders_api.router)
    app.include_router(showcase.router)
    app.include_router(admin_pages_api.router)
    app.include_router(admin_pages.router)
    app.mount("/admin/static", admin_pages.static(), name="admin-static")
    app.include_router(rates_api.router)
    app.include_router(open311.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        store = get_store()
        store.r.ping()
        kind = "embedded" if store.embedded else ("redis-degraded" if store.degraded else "redis")
        return {"status": "ok", "database": get_engine().dialect.name, "store": kind, "demo": settings.demo}

    if settings.demo:
        from bot.fake_wechat import create_fake_wechat_app
        from bot.simulator import router as simulator_router

        app.mount("/_fake_wechat", create_fake_wechat_app())
        app.include_router(simulator_router)
    return app
