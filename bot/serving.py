"""`weilinli serve --workers N`: one master that loads what every worker reads and never changes
(jieba's dictionary, the rules, the service menu, the code itself), then forks the workers, so they
share those pages instead of each loading its own copy (gunicorn's `preload_app` with uvicorn's
worker class: uvicorn's own `--workers` spawns fresh interpreters, which share nothing).

What must not cross a fork is built after it, in each worker: the database engine and its
connections, the Redis client, the scheduler (the app's lifespan builds them).
"""

from __future__ import annotations

import gc
import logging

from gunicorn.app.base import BaseApplication

from settings import get_settings

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def preload() -> None:
    """Load the read-only data into this process before it forks."""
    import nlp
    from nlp import tokenizer

    tokenizer.ensure_loaded()
    nlp.classify("楼道灯坏了")  # parses the rules and the service menu, compiles the scanners
    _import_what_workers_import()


def _import_what_workers_import() -> None:
    """Code every worker imports at its first message anyway (the grid polygons' shapely and numpy,
    the database driver, the store's clients): imported once here, its pages are shared (master
    + 2 workers: 21–24 MB less PSS after the intake bench); in one process it stays imported where
    it is used."""
    import importlib

    names = ["shapely.geometry", "shapely.wkt", "redis", "fakeredis"]
    if get_settings().effective_database_url.startswith("postgresql+psycopg"):
        names.append("psycopg")
    for name in names:
        importlib.import_module(name)


class Service(BaseApplication):
    def __init__(self, host: str, port: int, workers: int, timeout_graceful_shutdown: int = 5):
        self.bind, self.workers, self.grace = f"{host}:{port}", workers, timeout_graceful_shutdown
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", [self.bind])
        self.cfg.set("workers", self.workers)
        self.cfg.set("worker_class", "uvicorn_worker.UvicornWorker")
        self.cfg.set("preload_app", True)
        self.cfg.set("graceful_timeout", self.grace)
        self.cfg.set("timeout", 60)  # a worker silent this long (a stuck event loop) is replaced
        self.cfg.set("keepalive", 75)  # WeChat keeps connections open; shorter than its idle close is wasteful
        self.cfg.set("accesslog", None)
        self.cfg.set("errorlog", "-")
        self.cfg.set("loglevel", "info")
        self.cfg.set("proc_name", "weilinli")
        # X-Forwarded-For is believed only from WEILINLI_TRUSTED_PROXIES (gunicorn trusts 127.0.0.1)
        self.cfg.set("forwarded_allow_ips", get_settings().trusted_proxies.strip())

    def load(self):
        # Loading makes about a million objects that live as long as the process (jieba's dictionary,
        # the code): collections during it free nothing and cost a fifth of the cold start.
        gc.disable()
        _cap_malloc_arenas()
        try:
            from bot.app import create_app

            preload()
            app = create_app()  # the runtime's engine, store and scheduler are built lazily, in the worker
        finally:
            gc.freeze()  # what exists now stays out of the workers' collections: their GC won't touch (copy) it
            gc.enable()
        log.info("dictionary, rules and service menu loaded once, before forking %d workers", self.workers)
        return app


def _cap_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that meets a locked heap an arena of its own, up to 8 per CPU: a
    worker's handler threads spread small allocations over several arenas that fragment and are
    never returned. Two are enough for threads that mostly hold the GIL. Set before forking, so
    every worker inherits it; MALLOC_ARENA_MAX in the environment (read by glibc itself) wins."""
    import ctypes
    import os

    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        pass


def run(host: str, port: int, workers: int) -> None:
    from gunicorn.arbiter import Arbiter

    arbiter = Arbiter(Service(host, port, workers))
    # Ctrl-C stops gracefully, as SIGTERM does: gunicorn's own SIGINT is a quick exit that SIGKILLs
    # workers still finishing a report after the grace period
    arbiter.handle_int = arbiter.handle_term
    arbiter.run()
