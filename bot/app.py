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
from admin.routers import include_routers as include_admin_routers
from bot import jobs
from bot.core.db import get_engine, session_factory
from bot.core.store import get_store
from bot.domain.models import Grid
from bot.open311 import routes
from bot.web import showcase
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
            from bot.core.migrate import upgrade  # Alembic is slow to import: only where it runs

            upgrade()
        get_engine()
        store = get_store()
        log.info("store: %s", "embedded in-process (single process only)" if store.embedded else "Redis")
        log.info("place words loaded: %d", load_place_words())
        scheduler = jobs.start() if run_scheduler else None
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()

    app = FastAPI(title="微邻里 weilinli", version="0.1.0", lifespan=lifespan)
    app.include_router(webhook_router)
    include_admin_routers(app)  # /api/… and /admin/…: the list is admin/routers.py
    app.include_router(showcase.router)
    app.include_router(routes.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        store = get_store()
        store.r.ping()
        kind = "embedded" if store.embedded else ("redis-degraded" if store.degraded else "redis")
        return {"status": "ok", "database": get_engine().dialect.name, "store": kind, "demo": settings.demo}

    if settings.demo:
        from bot.demo.fake_wechat import create_fake_wechat_app
        from bot.demo.simulator import router as simulator_router

        app.mount("/_fake_wechat", create_fake_wechat_app())
        app.include_router(simulator_router)
    return app
