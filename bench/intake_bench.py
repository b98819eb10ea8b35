"""Intake benchmark: the full report path of `weilinli serve` beside the durable echo
(`bench/durable_echo.py`: signature, AES, one Redis SET NX, one committed INSERT … RETURNING, the
number in an encrypted reply), on the same pre-signed AES requests, in one run.

A script that prints figures, not a timed test. Loopback only; every phase is bounded. In order:

1. an emptied PostgreSQL database and Redis db of its own (refuses the suite's `test` and db 0),
   `weilinli db upgrade`, the demo grids; a local fake WeChat API for the pushes;
2. for each worker count (default 1 and 2): start the durable echo and the service with that many
   workers, then closed-loop throughput with wrk on one pool of unique requests (echo, service on the
   same requests, echo again on fresh ones: the two echo runs show the noise), CPU per request;
3. with the last worker count: open-loop latency at 0.25× the echo's throughput (bench/fixed_rate.py,
   latency from each request's due time), then overload: 3× what the service sustained, open loop,
   bounded — share answered within 4.5 s, and every acknowledged report in the database, none twice;
4. statements and round trips per report (bench/roundtrips.py, in-process, both apps);
5. memory of the service (PSS: shared pages counted once) and cold start to ready.

    createdb -h 127.0.0.1 -U postgres weilinli_intake
    python bench/intake_bench.py                      # ~4 min with the defaults
    python bench/intake_bench.py --workers 2 --duration 10

Targets (issue 18): service ≥ 0.5× the durable echo's throughput, same processes, 16 connections;
p99 ≤ 50 ms at 0.25× the echo's throughput; zero non-2xx; at 3× overload every answer within 4.5 s,
nothing lost or doubled; two workers ≤ 350 MB PSS together; cold start ≤ 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fixed_rate  # noqa: E402
from bench.webhook_bench import (  # noqa: E402
    AES_KEY,
    APPID,
    TOKEN,
    Proc,
    RequestBuilder,
    check_targets,
    counts,
    cpu_seconds,
    free_port,
    http_bytes,
    libpq,
    memory,
    profile,
    run_wrk,
    settle,
    wait_ready,
    write_wrk_files,
)

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/weilinli_intake"
DEFAULT_REDIS = "redis://127.0.0.1:6379/6"
ANSWER_WITHIN = 4.5  # seconds: WeChat gives up at 5


def log(msg: str = "") -> None:
    print(msg, flush=True)


def uvicorn_cmd(app: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "info",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    ]


def serve_cmd(port: int, workers: int) -> list[str]:
    return ["weilinli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def row(name: str, d: dict) -> str:
    return (
        f"   {name:<16} {d['rps']:8.0f} req/s  {d['requests']:7d} req   p50 {d['p50'] / 1000:6.1f} ms  "
        f"p99 {d['p99'] / 1000:7.1f}  max {d['max'] / 1000:7.1f}   non-2xx {d['status']}  "
        f"sock err {d['connect'] + d['read'] + d['write']}  timeouts {d['timeout']}  "
        f"CPU {d['cpu_ms']:.2f} ms/req (+ PostgreSQL and Redis {d['stores_ms']:.2f})"
    )


def stores_cpu_seconds() -> float:
    """User + system CPU time used so far by every PostgreSQL and Redis server process on this
    machine (their share of the 2 CPUs is what the service cannot have; other databases' clients
    count too: run nothing else meanwhile)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(")")
        except OSError:
            continue
        if head.split("(", 1)[-1] in ("postgres", "redis-server"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def duplicates(url: str) -> int:
    import psycopg

    with psycopg.connect(libpq(url)) as conn:
        return conn.execute(
            "SELECT count(*) FROM (SELECT source_key FROM event WHERE source_key IS NOT NULL "
            "GROUP BY source_key HAVING count(*) > 1) d"
        ).fetchone()[0]


def stored_first(url: str) -> int:
    """Messages answered store-first so far (bot.wechat.inbox)."""
    import psycopg

    with psycopg.connect(libpq(url)) as conn:
        if not conn.execute("SELECT to_regclass('inbox_message') IS NOT NULL").fetchone()[0]:
            return 0  # code from before store-first
        return conn.execute("SELECT count(*) FROM inbox_message").fetchone()[0]


def closed_loop(args, env, workdir, builder, workers: int) -> dict:
    echo_port, service_port = free_port(), free_port()
    echo = Proc(uvicorn_cmd("bench.durable_echo:create_app", echo_port, workers), env, workdir / f"echo-{workers}.log")
    service = Proc(serve_cmd(service_port, workers), env, workdir / f"service-{workers}.log")
    try:
        if wait_ready(echo_port, echo) is None or wait_ready(service_port, service) is None:
            raise RuntimeError(f"echo or service did not start: see {workdir}")
        time.sleep(2)  # every worker finishes its start-up (jieba, place words, scheduler)
        pool = args.pool
        t = time.perf_counter()
        same = write_wrk_files(workdir, f"same-{workers}", builder.build(pool, f"s{workers}"), 1)
        log(
            f"   {workers} worker(s): built {pool} unique requests in {time.perf_counter() - t:.1f} s "
            "(the echo and then the service get these same requests)"
        )
        runs = {}
        for name, proc, port, script in (("echo", echo, echo_port, same), ("service", service, service_port, same)):
            before = counts(args.database_url)["event"]
            cpu0, stores0 = cpu_seconds(proc.pid), stores_cpu_seconds()
            d, _ = run_wrk(script, port, threads=1, connections=args.connections, duration=args.duration)
            if name == "service":
                d["settle"] = settle(args.database_url)
                d["events"] = counts(args.database_url)["event"] - before
            d["cpu_ms"] = 1000 * (cpu_seconds(proc.pid) - cpu0) / max(1, d["requests"])
            d["stores_ms"] = 1000 * (stores_cpu_seconds() - stores0) / max(1, d["requests"])
            if d["wraps"]:
                log(f"   WARNING: the pool wrapped {d['wraps']}× for {name}: raise --pool")
            runs[name] = d
        again = write_wrk_files(workdir, f"again-{workers}", builder.build(pool, f"a{workers}"), 1)
        cpu0, stores0 = cpu_seconds(echo.pid), stores_cpu_seconds()
        d, _ = run_wrk(again, echo_port, threads=1, connections=args.connections, duration=args.duration)
        d["stores_ms"] = 1000 * (stores_cpu_seconds() - stores0) / max(1, d["requests"])
        d["cpu_ms"] = 1000 * (cpu_seconds(echo.pid) - cpu0) / max(1, d["requests"])
        runs["echo again"] = d
        for name, d in runs.items():
            log(row(f"{name} ×{workers}", d))
        echo_rps = statistics.mean([runs["echo"]["rps"], runs["echo again"]["rps"]])
        ratio = runs["service"]["rps"] / echo_rps
        log(
            f"   service / durable echo = {ratio:.2f}× with {workers} worker(s)   target ≥ 0.5×: "
            f"{'MET' if ratio >= 0.5 else 'MISSED'}   (echo runs differ by "
            f"{abs(runs['echo']['rps'] - runs['echo again']['rps']) / echo_rps:.0%}; service created "
            f"{runs['service']['events']} events for {runs['service']['requests']} requests, "
            f"{runs['service']['settle']:.1f} s to settle)"
        )
        log()
        return {
            "workers": workers,
            "echo_rps": echo_rps,
            "service_rps": runs["service"]["rps"],
            "ratio": ratio,
            "runs": runs,
            "echo": echo,
            "service": service,
            "echo_port": echo_port,
            "service_port": service_port,
        }
    except BaseException:
        echo.stop()
        service.stop()
        raise


def open_loop(args, builder, port: int, rate: float, duration: float, tag: str) -> fixed_rate.FixedRateResult:
    n = max(1, int(rate * duration))
    reqs = [http_bytes(path, body, port) for path, body in builder.build(n, tag)]
    return fixed_rate.run_sync("127.0.0.1", port, reqs, rate=rate, duration=duration,
                               connections=args.open_connections)


def describe(res: fixed_rate.FixedRateResult) -> str:
    lat = res.latencies + [float("inf")] * (res.scheduled - res.completed)
    non2xx = sum(c for s, c in res.statuses.items() if not 200 <= s < 300)
    return (
        f"sent {res.scheduled}, answered {res.completed}   p50 {fixed_rate.percentile(lat, 50) * 1000:.1f} ms  "
        f"p99 {fixed_rate.percentile(lat, 99) * 1000:.1f}  max {max(res.latencies, default=0) * 1000:.0f}   "
        f"non-2xx {non2xx}  errors {dict(res.errors) or 0}  unanswered {res.timed_out}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--duration", type=int, default=15, help="seconds per load phase")
    ap.add_argument("--open-connections", type=int, default=512,
                    help="connections of the open-loop phases: WeChat does not hold a message back until an "
                         "earlier one is answered, so a flood reaches the service as it happens (16: the "
                         "generator queues it instead, where the service cannot see it)")
    ap.add_argument("--pool", type=int, default=20000, help="unique requests built per closed-loop phase")
    ap.add_argument("--overload", type=float, default=3.0, help="overload: this many × the service's throughput")
    ap.add_argument("--overload-duration", type=int, default=10)
    ap.add_argument("--overload-rate", type=float, default=0,
                    help="EXPERIMENT: offer this many req/s in the overload phase instead (the same load for "
                         "two versions of the code, whatever each sustains)")
    ap.add_argument("--cold-starts", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="WEILINLI_THREADS for the service (0: its default)")
    ap.add_argument("--throughput-only", action="store_true",
                    help="EXPERIMENT: stop after the closed loop (about a minute a worker count)")
    ap.add_argument("--py-spy", type=int, default=0, metavar="SECONDS",
                    help="after the closed loop, profile the service's workers this long under the same load "
                         "(py-spy --gil: the thread holding the interpreter at each sample)")
    ap.add_argument("--env", action="append", default=[], metavar="WEILINLI_X=V",
                    help="EXPERIMENT: one more setting for both apps (e.g. a part switched off)")
    args = ap.parse_args()
    check_targets(args.database_url, args.redis_url)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="weilinli-intake-"))
    fake_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEILINLI_")}
    env.update(
        {
            "WEILINLI_DATABASE_URL": args.database_url,
            "WEILINLI_REDIS_URL": args.redis_url,
            "WEILINLI_WECHAT_TOKEN": TOKEN,
            "WEILINLI_WECHAT_APPID": APPID,
            "WEILINLI_WECHAT_AES_KEY": AES_KEY,
            "WEILINLI_WECHAT_SECRET": "webbench-secret",
            "WEILINLI_WECHAT_API_BASE": f"http://127.0.0.1:{fake_port}/",
            "WEILINLI_WECHAT_TEMPLATE_ID": "webbench-template",
            "WEILINLI_RATE_LIMIT_PER_MINUTE": "1000000",
            "WEILINLI_DATA_DIR": str(workdir / "data"),
        }
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("WEILINLI_")})
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    log("== weilinli intake benchmark: the full report path beside the durable echo ==")
    log(
        f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, code {commit}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at start (shared machine)"
    )
    log(
        f"database / redis: {args.database_url} / {args.redis_url}; AES safe mode; one unique OpenID + MsgId "
        f"each request; wrk -t1 -c{args.connections} -d{args.duration}s; work dir {workdir}"
    )
    log()

    import psycopg
    import redis

    with psycopg.connect(libpq(args.database_url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    redis.Redis.from_url(args.redis_url).flushdb()
    subprocess.run(["weilinli", "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.demo import sample; from bot.core.db import session_scope\n"
            "with session_scope() as s: sample.load(s)",
        ],
        env=env,
        cwd=ROOT,
        check=True,
    )
    fake = Proc(
        [
            sys.executable,
            "-c",
            "import uvicorn; from bot.demo.fake_wechat import create_fake_wechat_app; "
            f"uvicorn.run(create_fake_wechat_app(), host='127.0.0.1', port={fake_port}, log_level='warning')",
        ],
        env,
        workdir / "fake_wechat.log",
    )
    builder = RequestBuilder(seed=20261202)
    last = None
    summary: list[str] = []
    try:
        log("-- throughput, closed loop (wrk) --")
        for workers in [int(w) for w in args.workers.split(",")]:
            if last is not None:
                last["echo"].stop()
                last["service"].stop()
            last = closed_loop(args, env, workdir, builder, workers)
            summary.append(
                f"   throughput ×{workers}: service {last['service_rps']:.0f} / durable echo "
                f"{last['echo_rps']:.0f} req/s = {last['ratio']:.2f}×   (≥ 0.5×)"
            )
        last["echo"].stop()
        service, port, workers = last["service"], last["service_port"], last["workers"]
        if args.py_spy:
            settle(args.database_url)
            profile(service, port, builder, workdir, args.py_spy, args.connections, gil=True)
        if args.throughput_only:
            log("== summary ==\n" + "\n".join(summary))
            return

        rate = 0.25 * last["echo_rps"]
        log(
            f"-- latency, open loop at 0.25× the echo's throughput: {rate:.0f} req/s for {args.duration} s, "
            f"{workers} worker(s), up to {args.open_connections} connections --"
        )
        res = open_loop(args, builder, port, rate, args.duration, "l")
        settle(args.database_url)
        p99 = fixed_rate.percentile(res.latencies + [float("inf")] * (res.scheduled - res.completed), 99) * 1000
        log(f"   service {describe(res)}   target p99 ≤ 50 ms: {'MET' if p99 <= 50 else 'MISSED'}")
        summary.append(f"   latency p99 {p99:.1f} ms at {rate:.0f} req/s   (≤ 50 ms)")
        log()

        rate = args.overload_rate or args.overload * last["service_rps"]
        log(
            f"-- overload: {rate / last['service_rps']:.2g}× what the service sustained = {rate:.0f} req/s for "
            f"{args.overload_duration} s, open loop --"
        )
        before, first_before = counts(args.database_url)["event"], stored_first(args.database_url)
        res = open_loop(args, builder, port, rate, args.overload_duration, "o")
        waited = settle(args.database_url, limit=180)
        created = counts(args.database_url)["event"] - before
        ok = sum(c for s, c in res.statuses.items() if 200 <= s < 300)
        late = sum(1 for x in res.latencies if x > ANSWER_WITHIN) + (res.scheduled - res.completed)
        doubled = duplicates(args.database_url)
        log(f"   service {describe(res)}")
        log(f"   answered store-first (已收到，编号…，稍后推送): {stored_first(args.database_url) - first_before}")
        log(
            f"   answered after {ANSWER_WITHIN} s or never: {late} of {res.scheduled}; events created {created} for "
            f"{ok} acknowledged reports ({waited:.1f} s to finish the backlog); events stored twice: {doubled}"
        )
        summary.append(
            f"   overload {rate:.0f} req/s: {late} of {res.scheduled} late (> {ANSWER_WITHIN} s) or "
            f"unanswered; {created} events for {ok} acknowledged; {doubled} doubled"
        )
        log()

        rows = memory(service.pid)
        pss = sum(r["pss_mb"] for r in rows)
        log(f"-- memory of `weilinli serve --workers {workers}` after the load (PSS, shared pages counted once) --")
        for r in rows:
            log(f"   pid {r['pid']:>7}  Pss {r['pss_mb']:6.1f} MB  RSS {r['rss_mb']:6.1f} MB  {r['cmd'][:60]}")
        log(f"   total PSS {pss:.1f} MB   target ≤ 350 MB for two workers: {'MET' if pss <= 350 else 'MISSED'}")
        summary.append(f"   memory {pss:.1f} MB PSS over {len(rows)} processes, {workers} worker(s)   (≤ 350 MB)")
        service.stop()
        log()

        log("-- statements and round trips per report (bench/roundtrips.py, in-process, scheduler off) --")
        for app in ("durable", "service"):
            out = subprocess.run(
                [sys.executable, "bench/roundtrips.py", "--app", app, "--n", "200"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            ).stdout
            line = next((ln for ln in out.splitlines() if ln.startswith("ROUNDTRIPS ")), "ROUNDTRIPS {}")
            d = json.loads(line[len("ROUNDTRIPS ") :])
            log(
                f"   {app:<8} SQL {d.get('sql_per_report')} {d.get('sql_by_verb')}  commits "
                f"{d.get('commits_per_report')}  Redis round trips {d.get('redis_round_trips_per_report')} "
                f"{d.get('redis_by_command')}"
            )
            summary.append(
                f"   per report ({app}): {d.get('sql_per_report')} SQL statements, "
                f"{d.get('commits_per_report')} commits, {d.get('redis_round_trips_per_report')} "
                "Redis round trips"
            )
        log()

        log(f"-- cold start: spawn `weilinli serve --workers {workers}` → first 200 from /healthz --")
        starts = []
        for i in range(args.cold_starts):
            p = free_port()
            proc = Proc(serve_cmd(p, workers), env, workdir / f"coldstart-{i}.log")
            starts.append(wait_ready(p, proc))
            proc.stop()
            log(f"   run {i + 1}: {starts[-1] if starts[-1] is None else round(starts[-1], 2)} s")
        ok_starts = [s for s in starts if s is not None]
        if ok_starts:
            cold = statistics.median(ok_starts)
            summary.append(f"   cold start {cold:.2f} s median of {len(ok_starts)}   (≤ 3 s)")
        log()
        log("== summary ==")
        for line in summary:
            log(line)
    finally:
        if last is not None:
            last["echo"].stop()
            last["service"].stop()
        fake.stop()
        for f in workdir.glob("*.req"):
            f.unlink()
        log(f"\nlogs kept in {workdir}")


if __name__ == "__main__":
    main()
