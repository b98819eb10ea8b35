"""SQL statements, transactions and Redis round trips per report, counted in-process.

    python bench/roundtrips.py [--n 200] [--app service|durable]

Runs the app (the service's `create_app(run_scheduler=False)`, or the durable echo) in this process
on the database and Redis of the environment (WEILINLI_DATABASE_URL / WEILINLI_REDIS_URL), sends it
`n` fresh signed, AES-encrypted text reports through Starlette's TestClient — the same requests
`webhook_bench.py` sends over HTTP — and counts what one report costs on the wire to its stores:
every statement SQLAlchemy sends (`before_cursor_execute`), every COMMIT, every Redis command and
every Redis round trip (a pipeline is one). The scheduler is off: background jobs are not counted.
Prints one JSON line `ROUNDTRIPS {...}` last, for webhook_bench.py to read.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sql: Counter = Counter()
        self.redis: Counter = Counter()
        self.redis_trips = 0
        self.commits = 0

    def statement(self, sql: str) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        with self.lock:
            self.sql[verb] += 1

    def redis_call(self, name: str, trips: int = 1) -> None:
        with self.lock:
            self.redis[name] += 1
            self.redis_trips += trips


def instrument(counts: Counts) -> None:
    """Count from here on: every engine's statements and commits, every Redis command and pipeline."""
    import redis
    from redis.client import Pipeline
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "before_cursor_execute")
    def _sql(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        counts.statement(statement)

    @event.listens_for(Engine, "commit")
    def _commit(conn):  # noqa: ANN001
        with counts.lock:
            counts.commits += 1

    plain = redis.Redis.execute_command
    piped = Pipeline.execute

    def execute_command(self, *args, **kwargs):  # noqa: ANN001
        if not isinstance(self, Pipeline):
            counts.redis_call(str(args[0]).upper())
        return plain(self, *args, **kwargs)

    def execute(self, *args, **kwargs):  # noqa: ANN001
        n = len(self.command_stack)
        for cmd in self.command_stack:  # (args, options) in redis-py ≥ 5, a PipelineCommand before
            queued = cmd[0] if isinstance(cmd, tuple) else cmd.args
            counts.redis_call(str(queued[0]).upper(), trips=0)
        counts.redis_trips += 1 if n else 0
        return piped(self, *args, **kwargs)

    redis.Redis.execute_command = execute_command
    Pipeline.execute = execute


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="reports to send (after 20 to warm up)")
    ap.add_argument("--app", choices=["service", "durable"], default="service")
    args = ap.parse_args(argv)

    import os

    from bench import webhook_bench as wb

    # the bench's WeChat account, unless the caller set one
    for k, v in {"TOKEN": wb.TOKEN, "APPID": wb.APPID, "AES_KEY": wb.AES_KEY, "SECRET": "webbench-secret"}.items():
        os.environ.setdefault(f"WEILINLI_WECHAT_{k}", v)
    os.environ.setdefault("WEILINLI_RATE_LIMIT_PER_MINUTE", "1000000")
    from fastapi.testclient import TestClient

    if args.app == "service":
        from bot.app import create_app

        app = create_app(run_scheduler=False)
    else:
        from bench.durable_echo import create_app

        app = create_app()
    builder = wb.RequestBuilder(seed=20261202)
    counts = Counts()
    with TestClient(app) as client:
        for path, body in builder.build(20, "w"):  # warm-up: caches, connections, first-time lookups
            client.post(path, content=body, headers={"Content-Type": "text/xml"})
        instrument(counts)
        answered = 0
        for path, body in builder.build(args.n, "c"):
            r = client.post(path, content=body, headers={"Content-Type": "text/xml"})
            answered += r.status_code == 200 and len(r.content) > 20
    n = max(1, answered)
    out = {
        "app": args.app,
        "reports": answered,
        "sql_per_report": round(sum(counts.sql.values()) / n, 2),
        "sql_by_verb": {k: round(v / n, 2) for k, v in counts.sql.most_common()},
        "commits_per_report": round(counts.commits / n, 2),
        "redis_commands_per_report": round(sum(counts.redis.values()) / n, 2),
        "redis_round_trips_per_report": round(counts.redis_trips / n, 2),
        "redis_by_command": {k: round(v / n, 2) for k, v in counts.redis.most_common()},
    }
    print("ROUNDTRIPS " + json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
