"""Abuse benchmark (issue 16): signed reports' reply times while the admin side is flooded.

A script that prints figures, not a timed test (tests/feature/test_abuse_load.py is the functional
check). Loopback only; every phase is bounded. It starts `weilinli serve` (one process) on a scratch
PostgreSQL database and the given Redis db, then measures 30 signed reports, one every 0.2 s:

1. alone (the baseline);
2. while 16, then 32 clients post bogus logins with random user names — first with the per-address
   limit lifted (every post runs argon2: the worst case), then with the default limits;
3. while 8 viewers post a 20,000-keyword (~220 KB) rules file to /api/rules/validate (refused: 403),
   and while 8 dispatchers do (validated in the admin pool);
4. a 300 MB chunked body to /api/login: the answer, and the service's RSS before and after.

    python bench/abuse_bench.py                       # ~3 min
    python bench/abuse_bench.py --redis redis://127.0.0.1:6379/2 --reports 50
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.wechat.wechat_side import WeChatSide  # noqa: E402
from tests.support.flood import Flood, all_numbered, big_rules, bogus_login, summary, timed_reports  # noqa: E402
from tests.support.procs import Service, drop_database, scratch_database  # noqa: E402
from tests.support.service import TOKEN  # noqa: E402

PASSWORD = "bench-passw0rd"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def phase(name: str, service: Service, reports: int, flood: Flood | None = None) -> None:
    side = WeChatSide(service.url, TOKEN, timeout=30)
    timed_reports(side, 2, pause=0, prefix="o-bench-warm")  # a fresh process's first reply loads jieba
    try:
        if flood is None:
            seconds, replies = timed_reports(side, reports, prefix=f"o-bench-{int(time.time())}")
            codes = {}
        else:
            with flood:
                time.sleep(1.0)
                seconds, replies = timed_reports(side, reports, prefix=f"o-bench-{int(time.time())}")
            codes = dict(flood.codes)
    finally:
        side.close()
    ok = "all numbered" if all_numbered(replies) else "SOME UNANSWERED"
    print(f"{name:<58} {summary(seconds)}  {ok}  flood answers: {codes}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--reports", type=int, default=30)
    args = parser.parse_args()
    url = scratch_database("weilinli_abuse_bench")
    tmp = Path(tempfile.mkdtemp(prefix="abuse-bench-"))
    lifted = dict(
        WEILINLI_LOGIN_FAILURES_PER_ADDRESS="1000000",
        WEILINLI_LOGIN_FAILURES_PER_ACCOUNT="1000000",
        WEILINLI_LOGIN_ATTEMPTS_PER_10MIN="1000000",
    )
    service = Service(tmp, WEILINLI_DATABASE_URL=url, WEILINLI_REDIS_URL=args.redis, **lifted)
    try:
        assert service.run("db", "upgrade").returncode == 0
        for name, role in (("bench-viewer", "viewer"), ("bench-disp", "dispatcher")):
            done = service.run("users", "add", name, "--role", role, "--password", PASSWORD)
            assert done.returncode == 0, done.stderr
        service.start()
        print(f"weilinli serve on {url} + {args.redis}; {args.reports} signed reports per phase, 0.2 s apart")
        phase("1. reports alone", service, args.reports)
        for clients in (16, 32):
            phase(
                f"2. {clients} bogus-login clients, limits lifted (argon2 each)",
                service,
                args.reports,
                Flood(service.url, bogus_login, clients),
            )
        service.stop()
        service.env = {k: v for k, v in service.env.items() if k not in lifted}
        service.start()
        phase("2. 32 bogus-login clients, default limits", service, args.reports, Flood(service.url, bogus_login, 32))
        import redis

        store = redis.Redis.from_url(args.redis)  # phase 2 left 127.0.0.1 over its login limit: reset it
        for key in store.scan_iter("wl:rate:login*"):
            store.delete(key)
        rules = big_rules(20_000)

        def as_role(name: str):
            def setup(client) -> None:
                answer = client.post("/api/login", json={"username": name, "password": PASSWORD})
                client.csrf = answer.json()["csrf_token"]

            def hit(client):
                return client.post("/api/rules/validate", json={"text": rules}, headers={"X-CSRF-Token": client.csrf})

            return setup, hit

        setup, hit = as_role("bench-viewer")
        phase(
            f"3. 8 viewers validating {len(rules.encode()) // 1024} KB of rules",
            service,
            args.reports,
            Flood(service.url, hit, 8, setup=setup),
        )
        setup, hit = as_role("bench-disp")
        phase(
            f"3. 8 dispatchers validating {len(rules.encode()) // 1024} KB of rules",
            service,
            args.reports,
            Flood(service.url, hit, 8, setup=setup),
        )

        from tests.feature.test_abuse_load import _chunked_post

        pid = service.proc.pid
        before = rss_mb(pid)
        started = time.perf_counter()
        status, sent = _chunked_post(service.url, "/api/login", 300 * 1024 * 1024)
        print(
            f"4. 300 MB chunked to /api/login: {status!r} after {sent / 2**20:.0f} MB sent in "
            f"{time.perf_counter() - started:.2f} s; service RSS {before:.0f} → {rss_mb(pid):.0f} MB"
        )
    finally:
        service.stop()
        drop_database(url)


if __name__ == "__main__":
    main()
