"""CPU per report on the hot path, in-process: the webhook's report and the delivery of its push.

    python bench/hotpath.py [--n 300] [--rounds 3] [--profile FILE]

On the database and Redis of the environment (WEILINLI_DATABASE_URL / WEILINLI_REDIS_URL, schema
upgraded, demo grids loaded), with the scheduler off and a local fake WeChat API in a process of
its own (its CPU is not counted):

1. reports: `n` fresh signed, AES-encrypted text reports (bench/webhook_bench.py's requests) through
   the service app with Starlette's TestClient, one at a time; CPU ms of this process per report
   (client side included: the same few hundred µs for every app, as the durable echo line shows);
2. handler: `bot.wechat.webhook.answer` alone on parsed deliveries (no HTTP, no AES);
3. pushes: the outbox drain (`bot.jobs.drain_outbox`) delivering the queued pushes to the fake
   WeChat; CPU ms of this process per push delivered;
4. the durable echo (bench/durable_echo.py) through the same client, for reference.

Each phase runs `rounds` times on fresh requests; the best and the median are printed. With
`--py-spy FILE` one more round of reports and pushes is sampled by py-spy (the thread holding the
interpreter at each sample, 1,000 a second) and the functions of this repository are listed by
their inclusive share.
Prints one JSON line `HOTPATH {...}` last.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu() -> float:
    return time.process_time()


def start_fake_wechat(port: int) -> subprocess.Popen:
    code = ("import uvicorn; from bot.demo.fake_wechat import create_fake_wechat_app; "
            f"uvicorn.run(create_fake_wechat_app(), host='127.0.0.1', port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/cgi-bin/token", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fake WeChat did not start")


def post_all(client, requests_: list[tuple[str, bytes]]) -> int:
    ok = 0
    for path, body in requests_:
        r = client.post(path, content=body, headers={"Content-Type": "text/xml"})
        ok += r.status_code == 200 and len(r.content) > 20
    return ok


def drain_all(runtime) -> int:
    """Deliver every due push; the number delivered."""
    from bot.jobs import drain_outbox
    from bot.notify import outbox

    delivered = 0
    while True:
        before = _sent(runtime)
        drain_outbox(runtime)
        after = _sent(runtime)
        delivered += after - before
        with runtime.sessions() as session:
            left = outbox.counts(session).get("pending", 0)
        if after == before or not left:
            return delivered


def _sent(runtime) -> int:
    from bot.notify import outbox

    with runtime.sessions() as session:
        return outbox.counts(session).get("sent", 0)


def reset() -> None:
    """A fresh schema with the demo grids, as intake_bench.py prepares its database."""
    import psycopg
    import redis

    from bench.webhook_bench import libpq

    url, redis_url = os.environ["WEILINLI_DATABASE_URL"], os.environ["WEILINLI_REDIS_URL"]
    if url.rsplit("/", 1)[-1] == "test" or redis_url.rstrip("/").endswith("/0"):
        raise SystemExit("refusing the suite's database / Redis db 0")
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    redis.Redis.from_url(redis_url).flushdb()
    subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "from bot.demo import sample; from bot.core.db import session_scope\n"
                    "with session_scope() as s: sample.load(s)"], cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="reports per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reset", action="store_true",
                    help="empty the database and Redis db first, upgrade, load the demo grids")
    ap.add_argument("--py-spy", help="record one more round (reports + their pushes) with py-spy into this "
                    "raw (collapsed stacks) file and print the top functions of our code")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    from bench import webhook_bench as wb

    for k, v in {"TOKEN": wb.TOKEN, "APPID": wb.APPID, "AES_KEY": wb.AES_KEY, "SECRET": "webbench-secret"}.items():
        os.environ.setdefault(f"WEILINLI_WECHAT_{k}", v)
    os.environ.setdefault("WEILINLI_RATE_LIMIT_PER_MINUTE", "1000000")
    # as intake_bench.py: a worker outside the 48-hour window gets a template message instead
    os.environ.setdefault("WEILINLI_WECHAT_TEMPLATE_ID", "webbench-template")
    if args.reset:
        reset()
    port = wb.free_port()
    os.environ["WEILINLI_WECHAT_API_BASE"] = f"http://127.0.0.1:{port}/"
    fake = start_fake_wechat(port)
    try:
        return run(args, wb)
    finally:
        fake.terminate()
        fake.wait(10)


def run(args, wb) -> int:
    from fastapi.testclient import TestClient

    from bench.durable_echo import create_app as create_echo
    from bot.app import create_app
    from bot.core.runtime import current
    from bot.wechat import protocol
    from bot.wechat.webhook import answer
    from settings import get_settings

    builder = wb.RequestBuilder(seed=20261202)
    app = create_app(run_scheduler=False)
    figures: dict[str, list[float]] = {"report_ms": [], "handler_ms": [], "push_ms": [], "echo_ms": []}
    with TestClient(app) as client:
        runtime = current()
        post_all(client, builder.build(30, "w"))  # warm-up: caches, connections, first-time lookups
        drain_all(runtime)
        s = get_settings()
        from wechatpy.crypto import WeChatCrypto

        crypto = WeChatCrypto(s.wechat_token, s.wechat_aes_key, s.wechat_appid)
        for i in range(args.rounds):
            batch = builder.build(args.n, f"r{i}")
            t = cpu()
            ok = post_all(client, batch)
            figures["report_ms"].append((cpu() - t) * 1000 / max(ok, 1))
            t = cpu()
            delivered = drain_all(runtime)
            figures["push_ms"].append((cpu() - t) * 1000 / max(delivered, 1))
            incoming = [_parse(protocol, crypto, s, path, body) for path, body in builder.build(args.n, f"h{i}")]
            t = cpu()
            for msg in incoming:
                answer(msg)
            figures["handler_ms"].append((cpu() - t) * 1000 / len(incoming))
            drain_all(runtime)
            print(f"round {i + 1}: {ok} reports, {delivered} pushes delivered", flush=True)
        if args.py_spy:
            # --gil: samples of the thread holding the interpreter (what serialises a worker), not waits
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(os.getpid()), "--format", "raw", "--rate", "1000",
                                    "--gil", "--output", args.py_spy],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # py-spy attaches
            post_all(client, builder.build(args.n, "p"))
            drain_all(runtime)
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
            print_profile(Path(args.py_spy), args.top)
    with TestClient(create_echo()) as client:
        post_all(client, builder.build(30, "ew"))
        for i in range(args.rounds):
            batch = builder.build(args.n, f"e{i}")
            t = cpu()
            ok = post_all(client, batch)
            figures["echo_ms"].append((cpu() - t) * 1000 / max(ok, 1))

    out = {}
    for name, values in figures.items():
        out[name] = {"best": round(min(values), 2), "median": round(statistics.median(values), 2)}
        print(f"{name:<11} best {min(values):6.2f}  median {statistics.median(values):6.2f}  "
              f"({', '.join(f'{v:.2f}' for v in values)})")
    print("HOTPATH " + json.dumps(out))
    return 0


def print_profile(path: Path, top: int) -> None:
    """Inclusive share of the sampled time per function of this repository (each counted once per stack)."""
    from collections import Counter

    total, inclusive = 0, Counter()
    ours = ("bot/", "handlers/", "nlp/", "settings.py")
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        seen = set()
        for frame in stack.split(";"):
            name, _, where = frame.partition(" (")
            where = where.rstrip(")").rsplit(":", 1)[0]  # py-spy names files relative to sys.path
            if where.startswith(ours) or where.startswith("redis/client") or where == "sqlalchemy/orm/session.py":
                key = f"{name} ({where})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += int(n)
    print(f"py-spy: {total} active samples; inclusive share per function")
    for key, n in inclusive.most_common(top):
        print(f"  {100 * n / max(total, 1):5.1f} %  {key}")


def _parse(protocol, crypto, s, path: str, body: bytes):
    from urllib.parse import parse_qs, urlsplit

    q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    xml = protocol.decrypt(body, crypto, s.wechat_token, q["msg_signature"], q["timestamp"], q["nonce"],
                           s.wechat_timestamp_window)
    return protocol.parse(xml)


if __name__ == "__main__":
    raise SystemExit(main())
