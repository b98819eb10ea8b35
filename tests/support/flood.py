"""Load for the abuse tests and bench/abuse_bench.py: floods that run in threads until told to stop,
and signed reports timed while they run."""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx

from tests.support.chat import NUMBER


class Flood:
    """`clients` threads each calling `hit(client)` in a loop; status codes counted."""

    def __init__(
        self,
        base_url: str,
        hit: Callable[[httpx.Client], httpx.Response],
        clients: int,
        setup: Callable[[httpx.Client], None] | None = None,
    ):
        self.base_url, self.hit, self.clients, self.setup = base_url, hit, clients, setup
        self.stop = threading.Event()
        self.codes: Counter = Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            if self.setup:
                self.setup(client)
            while not self.stop.is_set():
                try:
                    code = self.hit(client).status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                with self.lock:
                    self.codes[code] += 1

    def __enter__(self) -> Flood:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)


def bogus_login(client: httpx.Client) -> httpx.Response:
    """A login with a random user name, so no per-name limit ever fires."""
    return client.post("/api/login", json={"username": "u" + secrets.token_hex(6), "password": "wrong-password"})


def timed_reports(wx, count: int, pause: float = 0.2, prefix: str = "o-flood") -> tuple[list[float], list[str]]:
    """`count` signed reports one after another: (seconds each reply took, the replies' texts)."""
    seconds, replies = [], []
    for i in range(count):
        started = time.perf_counter()
        reply = wx.text(f"{prefix}-{i}-{secrets.token_hex(3)}", "东亭小区路灯不亮了，晚上很黑")
        seconds.append(time.perf_counter() - started)
        replies.append(reply.text)
        time.sleep(pause)
    return seconds, replies


def summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    return (
        f"n={len(ordered)} median={statistics.median(ordered) * 1000:.0f} ms "
        f"p90={ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} ms max={ordered[-1] * 1000:.0f} ms"
    )


def all_numbered(replies: list[str]) -> bool:
    return all(NUMBER.search(r) for r in replies)


def big_rules(keywords: int, seed: int = 1) -> str:
    """A valid rules file of `keywords` distinct four-character keywords in one category (~11 bytes
    each: 190,000 make 2 MB) — the shape of a mined file, and the case that once went quadratic."""
    import random

    rng = random.Random(seed)
    chars = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出以会也路灯井盖"
    words: set[str] = set()
    while len(words) < keywords:
        words.add("".join(rng.choice(chars) for _ in range(4)))
    lines = [
        "[meta]",
        'name = "big"',
        'match = "text"',
        "[categories.facility]",
        'label = "市政设施"',
        "[categories.facility.keywords]",
        *(f'"{w}" = 1' for w in sorted(words)),
    ]
    return "\n".join(lines) + "\n"
