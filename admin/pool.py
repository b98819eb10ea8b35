"""Bounded thread pools for the admin side's blocking work, apart from the webhook's threads.

Password hashing (argon2, ~0.2 s of CPU), spreadsheet parsing and rules validation run here, never
on the event loop and never in the default thread pool the webhook's handlers share: a flood of
logins or uploads then waits its turn in these few threads while signed reports keep theirs.
Logins have a pool of their own (`login_concurrency` threads) with a short queue; past it a login
is refused at once (503) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi import HTTPException

from bot.core.runtime import current
from settings import get_settings

LOGIN_QUEUE_PER_THREAD = 8  # logins waiting per password-check thread before new ones get 503


class AdminPool:
    """The runtime's admin pools (one per process, closed with the runtime)."""

    def __init__(self) -> None:
        s = get_settings()
        self.heavy = ThreadPoolExecutor(max(1, s.admin_threads), thread_name_prefix="wl-admin")
        self.login_threads = max(1, s.login_concurrency)
        self.logins = ThreadPoolExecutor(self.login_threads, thread_name_prefix="wl-login")
        self._lock = threading.Lock()
        self.login_waiting = 0

    def close(self) -> None:
        self.heavy.shutdown(wait=False, cancel_futures=True)
        self.logins.shutdown(wait=False, cancel_futures=True)


def admin_pool() -> AdminPool:
    return current().component(AdminPool)


async def run_heavy(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` in the admin pool, awaited from the event loop."""
    return await asyncio.wrap_future(admin_pool().heavy.submit(fn, *args, **kwargs))


async def run_login(fn, *args, **kwargs):
    """A password check in the login pool; 503 at once when its queue is full."""
    pool = admin_pool()
    with pool._lock:
        if pool.login_waiting >= pool.login_threads * LOGIN_QUEUE_PER_THREAD:
            raise HTTPException(503, "登录请求过多，请稍后再试", headers={"Retry-After": "5"})
        pool.login_waiting += 1
    try:
        return await asyncio.wrap_future(pool.logins.submit(fn, *args, **kwargs))
    finally:
        with pool._lock:
            pool.login_waiting -= 1
