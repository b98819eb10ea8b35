"""The monthly three-rate aggregation (bot.reports.rates.compute) timed on a generated database.

    python bench/rates_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/weilinli_bench

Prints the table sizes, the month's row counts, and for each grouping (worker, grid, community,
street, and a street-scoped grid view as a scoped dispatcher sees it) the best and median wall
time of `--runs` runs after one warm-up — the whole `rates.compute` call: the SQL plus naming the
groups. The target is ≤ 0.5 s with 1,000,000 events in the table.

Wall time on a shared machine includes waiting for a CPU, so the load average is printed with it,
and — when PostgreSQL runs on this host — the CPU time the database backend itself spent per call
(measured with parallel workers off, so that one process does all the work), which does not
depend on how busy the machine is. `--explain` prints PostgreSQL's plans.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 0.5


def backend_cpu(pid: int) -> float | None:
    """utime + stime of a local PostgreSQL backend, in seconds (None if not on this host)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: WEILINLI_DATABASE_URL")
    parser.add_argument("--month", default=None, help="YYYY-MM; default the last complete month")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the by=grid queries")
    parser.add_argument("--priority", action="store_true",
                        help="on a busy shared host: renice this process and its PostgreSQL backend to -10 "
                             "(needs root and a local server) so the figure shows the work, not the queue")
    args = parser.parse_args(argv)
    url = args.database_url or os.environ.get("WEILINLI_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("a PostgreSQL --database-url (or WEILINLI_DATABASE_URL) is required")

    import settings

    settings.configure(database_url=url)
    from sqlalchemy import event as sa_event
    from sqlalchemy import func, select, text

    from bot.core.db import get_engine, session_factory, utcnow
    from bot.domain.models import Event, Grid, Rating
    from bot.reports import rates

    with session_factory()() as session:
        month = args.month or rates.current_month(utcnow().replace(day=1) - timedelta(days=1))
        start, end = rates.month_range(month)
        events = session.scalar(select(func.count()).select_from(Event))
        ratings = session.scalar(select(func.count()).select_from(Rating))
        in_month = (Event.created_at >= start, Event.created_at < end)
        reported = session.scalar(select(func.count()).where(*in_month))
        counted = session.scalar(select(func.count()).where(*in_month, Event.status.not_in(rates.EXCLUDED_STATUSES)))
        month_ratings = session.scalar(select(func.count()).select_from(Rating).join(Event, Event.id == Rating.event_id)
                                       .where(*in_month, Event.status.not_in(rates.EXCLUDED_STATUSES)))
        street = session.scalar(select(Grid).where(Grid.level == "street").order_by(Grid.id))
        version = session.scalar(text("SELECT version()")).split(" on ")[0]
        pid = session.scalar(text("SELECT pg_backend_pid()"))
        reniced = ""
        if args.priority:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, -10)
                os.setpriority(os.PRIO_PROCESS, pid, -10)
                reniced = "; this process and its backend reniced to -10"
            except OSError as exc:
                reniced = f"; renice failed ({exc})"
        print(f"database: {version}; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPUs{reniced}")
        print(f"table rows: {events:,} events, {ratings:,} ratings")
        print(f"month {month}: {reported:,} events reported, {counted:,} counted (without cancelled/merged/"
              f"rejected), {month_ratings:,} ratings of them")

        cases = [(by, None) for by in rates.BY] + ([("grid", street)] if street else [])
        worst = 0.0
        for by, scope in cases:
            scope_id = scope.id if scope else None
            rates.compute(session, month, by, scope_grid_id=scope_id)  # warm-up
            times = []
            for _ in range(args.runs):
                began = time.perf_counter()
                result = rates.compute(session, month, by, scope_grid_id=scope_id)
                times.append(time.perf_counter() - began)
            session.execute(text("SET max_parallel_workers_per_gather = 0"))
            cpu_before = backend_cpu(pid)
            for _ in range(args.runs):
                rates.compute(session, month, by, scope_grid_id=scope_id)
            cpu_after = backend_cpu(pid)
            session.execute(text("RESET max_parallel_workers_per_gather"))
            cpu = "" if cpu_before is None else f"  backend CPU {(cpu_after - cpu_before) / args.runs * 1000:6.0f} ms"
            label = f"by={by}" + (f" scope={scope.name}" if scope else "")
            total = result.total
            print(f"  {label:<22} best {min(times) * 1000:7.1f} ms  median {statistics.median(times) * 1000:7.1f} ms"
                  f"{cpu}  groups {len(result.rows):>4}  events {total.reported:,}  R {total.response_rate}"
                  f"  C {total.completion_rate}  S {total.satisfaction_rate}  composite {total.composite}")
            worst = max(worst, min(times))

        if args.explain:
            statements = []

            def grab(conn, cursor, statement, parameters, context, executemany):
                statements.append((statement, parameters))

            sa_event.listen(get_engine(), "before_cursor_execute", grab)
            rates.compute(session, month, "grid")
            sa_event.remove(get_engine(), "before_cursor_execute", grab)
            cursor = session.connection().connection.cursor()
            for statement, parameters in statements[:2]:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                print("\n".join(row[0] for row in cursor.fetchall()))
    verdict = "OK" if worst <= TARGET else "over the target"
    print(f"rates aggregation: {worst * 1000:.1f} ms best wall time of the slowest grouping "
          f"(target ≤ {TARGET * 1000:.0f} ms) — {verdict}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
