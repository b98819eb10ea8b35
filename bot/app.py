"""The app factory: builds the runtime and wires the WeChat adapter, admin/API, the scheduler's jobs
and (demo) the simulator.

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
from admin.api.rules import activate_rules_file
from admin.pool import AdminPool
from admin.routers import include_routers as include_admin_routers
from bot import jobs
from bot.core import runtime as runtimes
from bot.core.db import session_factory
from bot.core.runtime import Runtime
from bot.domain.models import Grid
from bot.open311 import routes
from bot.web import showcase
from bot.web.guard import Guard, install_error_answers
from bot.wechat import inbox
from bot.wechat.client import Client
from bot.wechat.push import template_warnings
from bot.wechat.together import StoreFirst
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


def create_app(*, run_scheduler: bool = True, runtime: Runtime | None = None) -> FastAPI:
    """The service on `runtime` (`app.state.runtime`), installed at start-up as the process's current
    one, which the handlers' accessors read. Without one it builds its own and closes it at shutdown;
    a runtime passed in is the caller's to close (the tests share one between apps that way)."""
    settings = get_settings()
    owned = runtime is None
    runtime = runtime or Runtime()
    runtime.provide(AdminPool, runtime.component(AdminPool))  # kept across clear_caches(), closed with it
    runtime.provide(inbox.Load, runtime.component(inbox.Load))  # kept across clear_caches()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Blocking handlers run in this many threads. More only contend for the GIL and hold more
        # database transactions open at once; the rest wait their turn on the event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        # The webhook has threads of its own (as many again): no admin or API work queues it.
        app.state.webhook_threads = anyio.CapacityLimiter(settings.threads)
        # Storing a message first must not queue behind the handlers that are running late.
        app.state.intake_threads = anyio.CapacityLimiter(settings.intake_threads)
        runtime.component(inbox.Load).limiter = app.state.webhook_threads  # what store-first weighs
        app.state.store_first = StoreFirst(app.state.intake_threads)  # messages stored first together
        # Handler threads wait on a database or Redis answer ~20 times per report; each time they
        # want the GIL back, a busy thread (the outbox drain, another handler) may keep it for the
        # whole switch interval: CPython's 5 ms × 20 became the reply's tail latency (bench: p99
        # 942 ms at half load on one process, 49 ms with 1 ms).
        sys.setswitchinterval(0.001)
        previous = runtimes.install(runtime)
        if settings.effective_database_url.startswith("sqlite"):
            from bot.core.migrate import upgrade  # Alembic is slow to import: only where it runs

            upgrade()
        runtime.engine  # noqa: B018 - connect at start, not at the first message
        store = runtime.store
        log.info("store: %s", "embedded in-process (single process only)" if store.embedded else "Redis")
        log.info("place words loaded: %d", load_place_words())
        activate_rules_file()  # WEILINLI_RULES_FILE, when it exists (else the packaged rules)
        for warning in template_warnings():
            log.warning("push: %s", warning)
        if run_scheduler:
            runtime.provide(Client, Client())
            jobs.register(runtime)
            runtime.jobs.start()
        try:
            yield
        finally:
            if owned:
                runtime.close()
                runtimes.install(previous)
            elif run_scheduler:
                runtime.jobs.shutdown()

    app = FastAPI(title="微邻里 weilinli", version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.add_middleware(Guard)  # body limits by route class, NUL refused, /api and /showcase headers
    install_error_answers(app)
    app.include_router(webhook_router)
    include_admin_routers(app)  # /api/… and /admin/…: the list is admin/routers.py
    app.include_router(showcase.router)
    app.include_router(routes.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        store = runtime.store
        store.r.ping()
        kind = "embedded" if store.embedded else ("redis-degraded" if store.degraded else "redis")
        return {"status": "ok", "database": runtime.engine.dialect.name, "store": kind, "demo": settings.demo}

    if settings.demo:
        from bot.demo.fake_wechat import create_fake_wechat_app
        from bot.demo.simulator import router as simulator_router

        app.mount("/_fake_wechat", create_fake_wechat_app())
        app.include_router(simulator_router)
    return app
