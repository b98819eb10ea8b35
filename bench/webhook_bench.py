"""Webhook benchmark: the full report path of `weilinli serve` beside a plain wechatpy echo app.

A script that prints figures, not a timed test. Loopback only; every phase is bounded and stops by
itself. What it does, in this order:

1. prepares a separate PostgreSQL database and Redis db, emptied first (refuses the suite's `test`
   database and Redis db 0): `weilinli db upgrade` and the demo grids (bot/demo/sample.py: 幸福小区, 东亭小区, …);
2. starts a local fake WeChat API (pushes from the outbox go there);
3. cold start: spawns `weilinli serve --workers N` three times and times spawn → first 200 from
   /healthz (median of 3);
4. starts the service and the echo app (`bench/echo_app.py`, same uvicorn settings and workers);
5. closed-loop throughput with wrk (a generated Lua script cycles through pre-built, signed and
   AES-encrypted requests, one unique MsgId / nonce / OpenID each; built right before the phase):
   echo → service → echo again (the echo runs bracket the service run, to show the noise);
6. open-loop latency at a fixed rate of half the echo app's throughput (bench/fixed_rate.py,
   wrk2-style: latency counted from each request's due time), service then echo;
7. rows created (event, timeline, outbox, resident), errors in the service log, a decrypted sample
   reply, and the RSS of every service process (master + workers) after the load.

    createdb -h 127.0.0.1 -U postgres weilinli_webbench
    python bench/webhook_bench.py            # ~2.5 min with the defaults
    python bench/webhook_bench.py --workers 2 --connections 32 --duration 20

Targets (issue 8): service ≥ 0.5× the echo app's throughput; p99 ≤ 50 ms at half the echo app's
throughput; zero 5xx; service RSS ≤ 250 MB; cold start to ready ≤ 3 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fixed_rate  # noqa: E402

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/weilinli_webbench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
TOKEN = "webbench-token"
APPID = "wx5e1f0c2b3a4d6e7f"
AES_KEY = base64.b64encode(bytes(range(7, 39))).decode().rstrip("=")  # 43 chars → safe mode
ACCOUNT = "gh_weilinli"

# Realistic resident reports: place (grid aliases from bot/demo/sample.py + building) + problem.
PLACES = ["幸福小区", "幸福家园", "东亭小区", "东亭花园", "省委宿舍", "东亭二村", "翠柳村", "翠柳小区",
          "水果湖小区", "湖滨花园", "中北花园"]
PROBLEMS = [
    "楼道灯坏了好几天了，晚上上下楼看不见", "门口的垃圾三天没人清运了，味道很大", "路灯不亮，晚上走路很危险",
    "下水道堵塞，污水都漫到路上了", "电梯故障，老人上下楼很困难", "楼顶漏水，家里天花板都渗水了",
    "有人在楼道里飞线充电，太危险了", "消防通道被私家车堵住了", "楼上装修太吵，中午都不停",
    "小区门口乱停车，早上车都开不出去", "有棵大树倒了压在路边", "绿地被人挖了种菜",
    "井盖缺失，很容易有人掉下去", "有人乱倒建筑垃圾", "电动车推进楼道充电",
    "饭店油烟太大，窗户都不敢开", "有僵尸车停了半年没人管", "邻居家的狗半夜一直叫",
    "小广告贴满了单元门", "二次供水水质发黄", "门禁坏了，陌生人随便进出", "路面坑洼，下雨全是积水",
    "共享单车乱放，把盲道都占了", "树枝挡住了窗户，屋里很暗",
]
URGENT = ["闻到很重的燃气味，好像煤气泄漏了", "楼道里冒烟了，好像着火了"]
URGENT_SHARE = 0.03


def log(msg: str = "") -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report_text(rng: random.Random) -> str:
    place = f"{rng.choice(PLACES)}{rng.randint(1, 24)}栋"
    if rng.random() < URGENT_SHARE:
        return f"{place}{rng.choice(URGENT)}"
    return f"{place}{rng.choice(PROBLEMS)}"


# -- pre-built, signed and encrypted requests ------------------------------------------------------

ENCRYPT = re.compile(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>")
MSG_SIG = re.compile(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>")


class RequestBuilder:
    """Signed + encrypted WeChat deliveries, each with its own MsgId, nonce and OpenID."""

    def __init__(self, seed: int):
        from wechatpy.crypto import WeChatCrypto

        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
        self.rng = random.Random(seed)
        self.run = f"{int(time.time()) % 10**8:08d}"
        self.serial = 0

    def build(self, n: int, tag: str) -> list[tuple[str, bytes]]:
        from bot.wechat.protocol import sign
        from bot.wechat.wechat_side import message_xml

        out = []
        timestamp = str(int(time.time()))
        for _ in range(n):
            self.serial += 1
            serial = self.serial
            nonce = f"{tag}{self.run}{serial:08d}"
            msg_id = int(self.run) * 10**9 + serial
            openid = f"o-bench-{tag}-{self.run}-{serial:07d}"
            xml = message_xml(openid, "text", {"Content": report_text(self.rng), "MsgId": msg_id},
                              account=ACCOUNT, create_time=int(timestamp))
            envelope = self.crypto.encrypt_message(xml, nonce, timestamp)
            encrypted = ENCRYPT.search(envelope).group(1)
            msg_signature = MSG_SIG.search(envelope).group(1)
            path = (f"/wechat?signature={sign(TOKEN, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}"
                    f"&openid={openid}&encrypt_type=aes&msg_signature={msg_signature}")
            body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
            out.append((path, body))
        return out


def http_bytes(path: str, body: bytes, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# -- wrk -------------------------------------------------------------------------------------------

LUA = r"""-- generated by bench/webhook_bench.py: cycle through pre-built signed+encrypted requests
local prefix = "%(prefix)s"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  local f = assert(io.open(prefix .. tid .. ".req", "r"))
  for line in f:lines() do
    local tab = string.find(line, "\t", 1, true)
    reqs[#reqs + 1] = wrk.format("POST", string.sub(line, 1, tab - 1),
                                 {["Content-Type"] = "text/xml"}, string.sub(line, tab + 1))
  end
  f:close()
  idx = 0
  wraps = 0
end

function request()
  idx = idx + 1
  if idx > #reqs then
    idx = 1
    wraps = wraps + 1
  end
  return reqs[idx]
end

function done(summary, latency, requests)
  local wrapped, pool = 0, 0
  for _, t in ipairs(threads) do
    wrapped = wrapped + t:get("wraps")
  end
  -- share of answers slower than WeChat's 5 s limit: bisect the (monotonic) percentile function
  local over5 = 0
  if latency.max > 5000000 then
    local lo, hi = 0, 100
    for _ = 1, 30 do
      local mid = (lo + hi) / 2
      if latency:percentile(mid) > 5000000 then hi = mid else lo = mid end
    end
    over5 = 100 - hi
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %%d, "requests": %%d, "bytes": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "p999": %%d, ' ..
    '"max": %%d, "mean": %%.1f, "wraps": %%d, "over5s_pct": %%.3f}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, wrapped, over5))
end
"""


def write_wrk_files(workdir: Path, name: str, requests: list[tuple[str, bytes]], threads: int) -> Path:
    prefix = workdir / f"{name}-"
    files = [open(f"{prefix}{t}.req", "w", encoding="utf-8") for t in range(threads)]
    try:
        for i, (path, body) in enumerate(requests):
            files[i % threads].write(f"{path}\t{body.decode()}\n")
    finally:
        for f in files:
            f.close()
    script = workdir / f"{name}.lua"
    script.write_text(LUA % {"prefix": str(prefix)}, encoding="utf-8")
    return script


def run_wrk(script: Path, port: int, *, threads: int, connections: int, duration: int) -> tuple[dict, list[str]]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency",
           "-s", str(script), f"http://127.0.0.1:{port}/wechat"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    data = json.loads(line[len("BENCH_JSON "):])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data, cmd


# -- processes -------------------------------------------------------------------------------------

class Proc:
    """A process we started, in its own session (so its uvicorn workers can be ended with it)."""

    def __init__(self, cmd: list[str], env: dict, logfile: Path):
        self.cmd = cmd
        self.logfile = logfile
        self.fh = open(logfile, "ab")
        self.p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.fh, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def stop(self, grace: float = 10.0) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)  # the group of the process we started, only
                self.p.wait(5)
        self.fh.close()


def wait_ready(port: int, proc: Proc, timeout: float = 90.0) -> float | None:
    """Seconds until GET /healthz answers 200 (polled every 10 ms), None if it never does."""
    url = f"http://127.0.0.1:{port}/healthz"
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.p.poll() is not None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.01)
    return None


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by a process and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def memory(pid: int) -> list[dict]:
    rows = []
    for p in descendants(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

        def kb(name: str, fields: dict = fields) -> int:
            return int(fields.get(name, "0 kB").split()[0])
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            pss = int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1)) / 1024
        except (OSError, AttributeError):
            pss = float("nan")
        rows.append({"pid": p, "rss_mb": kb("VmRSS") / 1024, "hwm_mb": kb("VmHWM") / 1024, "pss_mb": pss,
                     "cmd": cmdline.strip()[:90]})
    return rows


# -- database --------------------------------------------------------------------------------------

def libpq(url: str) -> str:
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def counts(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(libpq(url)) as conn:
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("event", "timeline_entry", "outbox_message", "resident")}


def push_backlog(url: str, limit: float = 120.0) -> str:
    """Outbox states right after the load, and how long the scheduler then takes to deliver the rest."""
    import psycopg

    def states() -> dict[str, int]:
        with psycopg.connect(libpq(url)) as conn:
            return dict(conn.execute("SELECT status, count(*) FROM outbox_message GROUP BY status").fetchall())

    start, first = time.perf_counter(), states()
    now = first
    while now.get("pending", 0) + now.get("sending", 0) and time.perf_counter() - start < limit:
        time.sleep(0.5)
        now = states()
    left = now.get("pending", 0) + now.get("sending", 0)
    waited = time.perf_counter() - start
    return (f"after the load: {first}; {'all delivered' if not left else f'{left} still queued'} "
            f"{waited:.1f} s later: {now}")


def settle(url: str, limit: float = 90.0) -> float:
    """Wait until the service has worked off its backlog (event count still for 2 s, and no push
    queued: the next phase must not measure the previous one's pushes); seconds waited."""
    import psycopg

    def queued() -> int:
        with psycopg.connect(libpq(url)) as conn:
            pushes = conn.execute("SELECT count(*) FROM outbox_message WHERE status IN ('pending', 'sending')"
                                  " AND next_attempt_at <= now()").fetchone()[0]
            stored = conn.execute("SELECT to_regclass('inbox_message') IS NOT NULL").fetchone()[0] and \
                conn.execute("SELECT count(*) FROM inbox_message WHERE status IN ('pending', 'processing')"
                             ).fetchone()[0]
            return pushes + (stored or 0)  # and messages stored first, still to be handled

    start = time.perf_counter()
    last, still_since = counts(url)["event"], time.perf_counter()
    while time.perf_counter() - start < limit:
        time.sleep(0.5)
        now = counts(url)["event"]
        if now != last:
            last, still_since = now, time.perf_counter()
        elif time.perf_counter() - still_since >= 2 and not queued():
            break
    return time.perf_counter() - start


class ActivitySampler:
    """Samples pg_stat_activity of the bench database every 0.2 s while a phase runs: how many of the
    service's sessions run a query, wait on a lock (and on which statement), or idle in a transaction."""

    def __init__(self, url: str):
        import threading

        self.url, self.samples, self.lock_queries = url, [], {}
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(5)

    def _run(self) -> None:
        import psycopg

        db = self.url.rsplit("/", 1)[-1].split("?")[0]
        with psycopg.connect(libpq(self.url), autocommit=True) as conn:
            while not self.stop_flag.wait(0.2):
                rows = conn.execute(
                    "SELECT state, wait_event_type, left(query, 60) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                    (db,)).fetchall()
                sample = {"active": 0, "lock": 0, "idle_tx": 0}
                for state, wait, query in rows:
                    if state == "active" and wait == "Lock":
                        sample["lock"] += 1
                        key = " ".join(query.split())
                        self.lock_queries[key] = self.lock_queries.get(key, 0) + 1
                    elif state == "active":
                        sample["active"] += 1
                    elif state and state.startswith("idle in transaction"):
                        sample["idle_tx"] += 1
                self.samples.append(sample)

    def report(self) -> str:
        if not self.samples:
            return "no samples"
        mean = {k: statistics.mean(s[k] for s in self.samples) for k in ("active", "lock", "idle_tx")}
        top = sorted(self.lock_queries.items(), key=lambda kv: -kv[1])[:2]
        waits = "; ".join(f"{q!r} ×{n}" for q, n in top) or "none"
        return (f"{len(self.samples)} samples of pg_stat_activity: on average {mean['lock']:.1f} sessions waiting "
                f"on a lock, {mean['active']:.1f} running a query, {mean['idle_tx']:.1f} idle in transaction "
                f"(the service is working in Python between statements); lock waits on: {waits}")


def check_targets(db_url: str, redis_url: str) -> None:
    db_name = db_url.rsplit("/", 1)[-1].split("?")[0]
    redis_db = redis_url.rsplit("/", 1)[-1] if redis_url.count("/") >= 3 else "0"
    if db_name in ("test", "postgres", "") or not db_url.startswith("postgresql"):
        sys.exit(f"refusing database {db_name!r}: create a separate PostgreSQL database for the bench")
    if redis_db in ("", "0"):
        sys.exit("refusing Redis db 0 (the test suite's): use e.g. redis://127.0.0.1:6379/5")
    for url in (db_url, redis_url):
        host = re.search(r"@?([\w.\-]+):\d+/", url.split("//", 1)[1] if "//" in url else url)
        if host and host.group(1) not in ("127.0.0.1", "localhost"):
            sys.exit(f"loopback only: {url}")


def pct(values: list[float], p: float) -> float:
    return fixed_rate.percentile(values, p) * 1000


def all_latencies(res: fixed_rate.FixedRateResult) -> list[float]:
    """Answered latencies, plus +inf for every request never answered (so they count against p99)."""
    return res.latencies + [float("inf")] * (res.scheduled - res.completed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers, service and echo app alike")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (and fixed-rate client's)")
    ap.add_argument("--duration", type=int, default=20, help="seconds per load phase")
    ap.add_argument("--cold-starts", type=int, default=3)
    ap.add_argument("--rate", type=float, default=0.0, help="fixed rate (req/s); default half the echo app's")
    ap.add_argument("--py-spy", type=int, default=0, metavar="SECONDS",
                    help="after the figures, profile one service worker under wrk load for SECONDS")
    ap.add_argument("--service-app", default="", metavar="MODULE:FACTORY",
                    help="EXPERIMENT: run this app factory under uvicorn (same settings as `weilinli serve`) "
                         "instead of `weilinli serve`, to measure a change before making it (bot.app:create_app "
                         "is the product)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, request files)")
    args = ap.parse_args()

    check_targets(args.database_url, args.redis_url)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="weilinli-webbench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEILINLI_")}
    fake_port, service_port, echo_port = free_port(), free_port(), free_port()
    env.update({
        "WEILINLI_DATABASE_URL": args.database_url, "WEILINLI_REDIS_URL": args.redis_url,
        "WEILINLI_WECHAT_TOKEN": TOKEN, "WEILINLI_WECHAT_APPID": APPID, "WEILINLI_WECHAT_AES_KEY": AES_KEY,
        "WEILINLI_WECHAT_SECRET": "webbench-secret", "WEILINLI_WECHAT_API_BASE": f"http://127.0.0.1:{fake_port}/",
        "WEILINLI_WECHAT_TEMPLATE_ID": "webbench-template", "WEILINLI_RATE_LIMIT_PER_MINUTE": "1000000",
        "WEILINLI_DATA_DIR": str(workdir / "data"), "WEILINLI_PUBLIC_URL": f"http://127.0.0.1:{service_port}",
    })
    os.environ.update({k: v for k, v in env.items() if k.startswith("WEILINLI_")})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0:1]

    log("== weilinli webhook benchmark ==")
    log(f"date            : {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    log(f"code            : {commit}{' + uncommitted changes in the working tree' if dirty else ''}")
    log(f"machine         : {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start (shared)")
    log(f"database / redis: {args.database_url} / {args.redis_url}")
    log("mode            : AES safe mode, rate limit 1000000/min, one unique OpenID + MsgId + nonce each request")
    log(f"workers {args.workers} (service and echo), wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s ({' '.join(wrk_version)}), work dir {workdir}")
    log()

    procs: list[Proc] = []
    try:
        # Start from empty tables: an earlier run's open events and undelivered pushes would be
        # worked off during this one and counted as its CPU.
        import psycopg

        with psycopg.connect(args.database_url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        subprocess.run(["weilinli", "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([sys.executable, "-c", "from bot.demo import sample; from bot.core.db import session_scope\n"
                        "with session_scope() as s: sample.load(s)"], env=env, cwd=ROOT, check=True)
        fake = Proc([sys.executable, "-c",
                     "import uvicorn; from bot.demo.fake_wechat import create_fake_wechat_app; "
                     f"uvicorn.run(create_fake_wechat_app(), host='127.0.0.1', port={fake_port}, "
                     "log_level='warning')"], env, workdir / "fake_wechat.log")
        procs.append(fake)

        serve_cmd = ["weilinli", "serve", "--host", "127.0.0.1", "--port", str(service_port),
                     "--workers", str(args.workers)]
        if args.service_app:
            serve_cmd = [sys.executable, "-m", "uvicorn", args.service_app, "--factory", "--host", "127.0.0.1",
                         "--port", str(service_port), "--workers", str(args.workers), "--log-level", "info",
                         "--no-access-log", "--timeout-graceful-shutdown", "5"]
            log(f"EXPERIMENT: the service is {args.service_app}, not `weilinli serve` — not the product's figures")
            log()
        # -- cold start --
        log(f"-- cold start: spawn `{' '.join(serve_cmd)}` → first 200 from /healthz --")
        starts, cpus = [], []
        for i in range(args.cold_starts):
            load = os.getloadavg()[0]
            proc = Proc(serve_cmd, env, workdir / f"coldstart-{i}.log")
            ready = wait_ready(service_port, proc)
            cpu = cpu_seconds(proc.pid)
            proc.stop()
            starts.append(ready)
            cpus.append(cpu)
            log(f"   run {i + 1}: {'did not become ready' if ready is None else f'{ready:.2f} s'} wall, "
                f"{cpu:.2f} CPU-s over master + workers (load average {load:.1f} on {os.cpu_count()} CPUs)")
            time.sleep(1)
        ok = [s for s in starts if s is not None]
        cold = statistics.median(ok) if ok else float("nan")
        cold_cpu = statistics.median(cpus) if cpus else float("nan")
        if args.cold_starts:
            log(f"   median {cold:.2f} s wall, {cold_cpu:.2f} CPU-s   target ≤ 3 s: "
                f"{'MET' if ok and cold <= 3 else 'MISSED'}")
        else:
            log("   skipped (--cold-starts 0)")
        log()

        service = Proc(serve_cmd, env, workdir / "service.log")
        procs.append(service)
        echo_cmd = [sys.executable, "-m", "uvicorn", "bench.echo_app:create_app", "--factory", "--host", "127.0.0.1",
                    "--port", str(echo_port), "--workers", str(args.workers), "--log-level", "info",
                    "--no-access-log", "--timeout-graceful-shutdown", "5"]
        echo = Proc(echo_cmd, env, workdir / "echo.log")
        procs.append(echo)
        if wait_ready(service_port, service) is None or wait_ready(echo_port, echo) is None:
            raise RuntimeError(f"service or echo app did not start: see {workdir}")
        time.sleep(2)  # let every worker finish its start-up (jieba, place words, scheduler)
        log(f"service: {' '.join(serve_cmd)}")
        log(f"echo   : {' '.join(echo_cmd)}")
        log()

        builder = RequestBuilder(seed=20261125)
        # A sanity request through the same code that WeChat's side uses, decrypted.
        from bot.wechat.wechat_side import WeChatSide

        side = WeChatSide(f"http://127.0.0.1:{service_port}", TOKEN, aes_key=AES_KEY, appid=APPID)
        sample = side.text(f"o-bench-sample-{builder.run}", "幸福小区3栋楼道灯坏了好几天了")
        side.close()
        log(f"sample reply ({sample.status}): {sample.text[:120]!r}")
        if "WL" not in sample.text:
            raise RuntimeError("the sample report got no event number; not benchmarking a broken path")
        log()

        # -- closed-loop throughput (wrk) --
        echo_pool = 10000  # the echo app keeps no state: repeats cost it nothing
        log(f"-- throughput, closed loop: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency "
            f"-s <generated>.lua http://127.0.0.1:PORT/wechat --")
        t = time.perf_counter()
        echo_script = write_wrk_files(workdir, "echo", builder.build(echo_pool, "e"), args.threads)
        log(f"   built {echo_pool} echo requests in {time.perf_counter() - t:.1f} s (the echo app may see repeats)")
        wrk_cmd = None
        echo_built = time.time()
        echo_runs = []
        cpu0 = cpu_seconds(echo.pid)
        data, wrk_cmd = run_wrk(echo_script, echo_port, threads=args.threads, connections=args.connections,
                                duration=args.duration)
        data["cpu"] = cpu_seconds(echo.pid) - cpu0
        echo_runs.append(data)

        service_pool = int(max(5000, 1.3 * data["rps"] * args.duration))
        t = time.perf_counter()
        service_script = write_wrk_files(workdir, "service", builder.build(service_pool, "s"), args.threads)
        log(f"   built {service_pool} unique service requests in {time.perf_counter() - t:.1f} s")
        before = counts(args.database_url)
        cpu0 = cpu_seconds(service.pid)
        with ActivitySampler(args.database_url) as activity:
            svc, _ = run_wrk(service_script, service_port, threads=args.threads, connections=args.connections,
                             duration=args.duration)
        backlog = settle(args.database_url)
        svc["cpu"] = cpu_seconds(service.pid) - cpu0
        after = counts(args.database_url)
        if time.time() - echo_built > 200:  # keep the echo pool's timestamps inside the 300 s window
            echo_script = write_wrk_files(workdir, "echo", builder.build(echo_pool, "e"), args.threads)
        cpu0 = cpu_seconds(echo.pid)
        data, _ = run_wrk(echo_script, echo_port, threads=args.threads, connections=args.connections,
                          duration=args.duration)
        data["cpu"] = cpu_seconds(echo.pid) - cpu0
        echo_runs.append(data)

        def wrk_row(name: str, d: dict) -> str:
            return (f"   {name:<16} {d['rps']:8.0f} req/s  {d['requests']:7d} req   p50 {d['p50'] / 1000:6.1f} ms  "
                    f"p90 {d['p90'] / 1000:6.1f}  p99 {d['p99'] / 1000:6.1f}  max {d['max'] / 1000:7.1f}   "
                    f"non-2xx {d['status']}  sock err {d['connect'] + d['read'] + d['write']}  "
                    f"timeouts(10 s) {d['timeout']}  >5 s {d['over5s_pct']:.1f}%")

        log(wrk_row("echo (before)", echo_runs[0]))
        log(wrk_row("service", svc))
        log(wrk_row("echo (after)", echo_runs[1]))
        echo_rps = statistics.mean(d["rps"] for d in echo_runs)
        spread = abs(echo_runs[0]["rps"] - echo_runs[1]["rps"]) / echo_rps
        ratio = svc["rps"] / echo_rps
        log(f"   echo mean {echo_rps:.0f} req/s (the two echo runs differ by {spread:.0%}: the noise floor)")
        log(f"   service / echo = {ratio:.2f}×   target ≥ 0.5×: {'MET' if ratio >= 0.5 else 'MISSED'}")
        created = {k: after[k] - before[k] for k in after}
        echo_cpu_ms = 1000 * sum(d["cpu"] for d in echo_runs) / max(1, sum(d["requests"] for d in echo_runs))
        svc_cpu_ms = 1000 * svc["cpu"] / max(1, created["event"])
        log(f"   CPU per request (user+sys of all the app's processes, background jobs included): service "
            f"{svc_cpu_ms:.1f} ms per event created, echo {echo_cpu_ms:.2f} ms → {svc_cpu_ms / echo_cpu_ms:.0f}× "
            f"the work; on {os.cpu_count()} otherwise idle CPUs that caps the service near "
            f"{os.cpu_count() * 1000 / svc_cpu_ms:.0f} req/s")
        log(f"   rows created by the service run: {created['event']} events, {created['timeline_entry']} timeline, "
            f"{created['outbox_message']} outbox, {created['resident']} residents "
            f"(wrk completed {svc['requests']} requests; pool wrapped {svc['wraps']}×; "
            f"{backlog:.1f} s for the service to finish what was in flight)")
        log(f"   during the service run: {activity.report()}")
        log()

        # -- open-loop latency at a fixed rate --
        rate = args.rate or echo_rps / 2
        n = int(rate * args.duration)
        log(f"-- latency, open loop: {rate:.0f} req/s (= {'--rate' if args.rate else 'half the echo mean'}) "
            f"for {args.duration} s over {args.connections} keep-alive connections "
            f"(bench/fixed_rate.py; latency from each request's due time) --")
        fixed = {}
        own_rate = svc["rps"] / 2
        phases = [("service", service_port, rate), ("echo", echo_port, rate)]
        if own_rate < rate * 0.8:
            phases.append(("service@½own", service_port, own_rate))
        for name, port, phase_rate in phases:
            n = max(1, int(phase_rate * args.duration))
            reqs = [http_bytes(path, body, port) for path, body in builder.build(n, "f" + name[0])]
            before = counts(args.database_url)
            res = fixed_rate.run_sync("127.0.0.1", port, reqs, rate=phase_rate, duration=args.duration,
                                      connections=args.connections)
            waited = settle(args.database_url) if port == service_port else 0.0
            after = counts(args.database_url)
            fixed[name] = res
            non2xx = sum(c for s, c in res.statuses.items() if not 200 <= s < 300)
            five = sum(c for s, c in res.statuses.items() if s >= 500)
            late = sum(1 for x in all_latencies(res) if x > 5) / max(1, res.scheduled)
            log(f"   {name:<12} {phase_rate:6.1f} req/s: sent {res.scheduled}, answered {res.completed} "
                f"at {res.achieved:.0f} req/s   p50 {pct(all_latencies(res), 50):6.1f} ms  "
                f"p90 {pct(all_latencies(res), 90):6.1f}  "
                f"p99 {pct(all_latencies(res), 99):6.1f}  p99.9 {pct(all_latencies(res), 99.9):6.1f}  "
                f"max {max(res.latencies, default=0) * 1000:7.1f}   "
                f">5 s or never {late:.1%}   5xx {five}  non-2xx {non2xx}  "
                f"errors {dict(res.errors) or 0}  unanswered {res.timed_out}  sender lag max "
                f"{res.max_lag * 1000:.0f} ms"
                + (f"   rows: +{after['event'] - before['event']} events (backlog worked off {waited:.1f} s after)"
                   if port == service_port else ""))
        p99 = pct(all_latencies(fixed["service"]), 99)
        log(f"   service p99 {p99:.1f} ms at {rate:.0f} req/s   target ≤ 50 ms: {'MET' if p99 <= 50 else 'MISSED'}")
        if "service@½own" in fixed:
            log(f"   (at half its own wrk throughput, {own_rate:.1f} req/s, the service's p99 is "
                f"{pct(all_latencies(fixed['service@½own']), 99):.1f} ms)")
        log("   (inf = some requests were never answered within the run + 10 s drain: they count as infinitely late)")
        log()

        # -- errors, memory --
        text = (workdir / "service.log").read_text(errors="replace")
        failures = text.count("failed")
        tracebacks = text.count("Traceback")
        degraded = text.count("degraded mode")
        log(f"-- service log: {tracebacks} tracebacks, {failures} 'failed' lines, {degraded} 'degraded mode' lines "
            f"({workdir / 'service.log'}) --")
        total_5xx = sum(c for name, res in fixed.items() if name.startswith("service")
                        for s, c in res.statuses.items() if s >= 500)
        log(f"   wrk non-2xx (service): {svc['status']}; fixed-rate 5xx (service): {total_5xx}   "
            f"target zero 5xx: {'MET' if svc['status'] == 0 and total_5xx == 0 else 'MISSED'}")
        log()
        log("-- pushes (the outbox: one push to the grid worker per report) --")
        log(f"   {push_backlog(args.database_url)}")
        rows = memory(service.pid)
        log(f"-- service memory after the load (master pid {service.pid} + workers; /proc/<pid>/status) --")
        for r in rows:
            log(f"   pid {r['pid']:>7}  VmRSS {r['rss_mb']:6.1f} MB  VmHWM {r['hwm_mb']:6.1f} MB  "
                f"Pss {r['pss_mb']:6.1f} MB  {r['cmd']}")
        total = sum(r["rss_mb"] for r in rows)
        peak = sum(r["hwm_mb"] for r in rows)
        pss_total = sum(r["pss_mb"] for r in rows)
        log(f"   total VmRSS {total:.1f} MB (sum of peaks {peak:.1f} MB, sum of Pss {pss_total:.1f} MB)   "
            f"target ≤ 250 MB: {'MET' if total <= 250 else 'MISSED'}")
        erows = memory(echo.pid)
        log(f"   (echo app total VmRSS {sum(r['rss_mb'] for r in erows):.1f} MB over {len(erows)} processes)")
        log()

        log("== summary ==")
        log(f"   throughput  service {svc['rps']:.0f} / echo {echo_rps:.0f} req/s = {ratio:.2f}×   (≥ 0.5×)")
        log(f"   latency     p99 {p99:.1f} ms at {rate:.0f} req/s open loop   (≤ 50 ms)")
        log(f"   errors      {svc['status']} non-2xx under wrk, {total_5xx} 5xx at the fixed rate, "
            f"{tracebacks} tracebacks in the log   (zero 5xx)")
        log(f"   5 s limit   {svc['over5s_pct']:.1f}% of the service's answers under wrk came after WeChat's 5 s "
            f"(+{svc['timeout']} never within 10 s); WeChat would have retried those")
        log(f"   memory      {total:.1f} MB RSS over {len(rows)} processes   (≤ 250 MB)")
        log(f"   cold start  {cold:.2f} s median of {len(ok)} ({cold_cpu:.2f} CPU-s)   (≤ 3 s)")

        if args.py_spy:
            profile(service, service_port, builder, workdir, args.py_spy, args.connections, args.threads)
    finally:
        for proc in reversed(procs):
            proc.stop()
        if not args.keep:
            for f in workdir.glob("*.req"):  # the request files (large); logs and profiles stay
                f.unlink()
        log(f"\nlogs kept in {workdir}")


def profile(service: Proc, port: int, builder: RequestBuilder, workdir: Path, seconds: int, connections: int,
            wrk_threads: int = 1, gil: bool = False) -> None:
    """py-spy on each service worker while wrk drives fresh unique requests at it; `gil`: only the
    samples of the thread holding the interpreter (what serialises a worker)."""
    if shutil.which("py-spy") is None:
        log("py-spy not installed (pip install py-spy)")
        return
    # uvicorn's or gunicorn's worker processes (children of the master), or the one process of --workers 1
    workers = [p for p in descendants(service.pid) if p != service.pid
               and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()] or [service.pid]
    n = int(max(5000, 2000 * seconds))
    script = write_wrk_files(workdir, "profile", builder.build(n, "p"), wrk_threads)
    flags = ["--gil"] if gil else []
    log(f"\n-- profile: py-spy record --rate 200 --nonblocking {' '.join(flags)} --format raw -d {seconds} on workers "
        f"{workers}, under wrk -t{wrk_threads} -c{connections} with {n} fresh unique requests --")
    spies = []
    for w in workers:
        out = workdir / f"pyspy-{w}.txt"
        spies.append((out, subprocess.Popen(["py-spy", "record", "--pid", str(w), "--duration", str(seconds),
                                             "--rate", "200", "--format", "raw", "--output", str(out),
                                             "--nonblocking", *flags], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)))
    run_wrk(script, port, threads=wrk_threads, connections=connections, duration=seconds)
    for _, spy in spies:
        spy.wait(seconds + 30)
    summarise_profiles([out for out, _ in spies])


def summarise_profiles(files: list[Path], top: int = 25) -> None:
    """Inclusive time per function (a frame counted once per sample), from py-spy's collapsed stacks."""
    from collections import Counter

    inclusive, own, ours, total = Counter(), Counter(), Counter(), 0
    for f in files:
        if not f.exists():
            continue
        for line in f.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            count = int(count)
            frames = stack.split(";")
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            own[frames[-1]] += count
            mine = [f for f in frames if re.search(r"\((bot|handlers|nlp|admin)/", f)]
            ours[mine[-1] if mine else "(no frame of ours: event loop, idle pool threads)"] += count
    if not total:
        log("   no samples")
        return
    log(f"   {total} samples of busy threads (py-spy drops idle ones); inclusive share per function:")
    for frame, count in inclusive.most_common(top):
        log(f"   {count / total:6.1%}  {frame[:150]}")
    log("   innermost frame of our code (bot/ handlers/ nlp/ admin/) per sample:")
    for frame, count in ours.most_common(20):
        log(f"   {count / total:6.1%}  {frame[:150]}")
    log("   own (leaf) time:")
    for frame, count in own.most_common(15):
        log(f"   {count / total:6.1%}  {frame[:150]}")


if __name__ == "__main__":
    main()
