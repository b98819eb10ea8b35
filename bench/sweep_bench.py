"""The supervision sweep (bot.events.supervision.sweep) timed on a generated database.

    URL=postgresql+psycopg://postgres@127.0.0.1:5432/weilinli_bench
    python bench/generate.py --events 1000000 --database-url $URL --reset
    python bench/sweep_bench.py --database-url $URL

Prints (1) the due-event scan: the sweep's query for events whose next checkpoint has passed,
best and median of `--runs`, over the whole table; (2) one real sweep at `now` (reminders, 督办,
escalations written to the database and the outbox), with how many events and notices it handled.
The target is a sweep ≤ 1 s with 1,000,000 events in the table. Step (2) changes the database (it
is the service's own work); regenerate for a byte-identical rerun.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: WEILINLI_DATABASE_URL")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--limit", type=int, default=500, help="events per sweep (the service's batch)")
    args = parser.parse_args(argv)
    url = args.database_url or os.environ.get("WEILINLI_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("a PostgreSQL --database-url (or WEILINLI_DATABASE_URL) is required")

    import settings

    settings.configure(database_url=url, dispatcher_openids="")
    from sqlalchemy import func, select

    from bot.core.db import session_factory, utcnow
    from bot.domain.models import Event, OutboxMessage, SupervisionNotice
    from bot.events import supervision

    factory = session_factory()
    now = utcnow()
    with factory() as session:
        total = session.scalar(select(func.count()).select_from(Event))
        pending = session.scalar(select(func.count()).select_from(Event).where(Event.next_check_at.is_not(None)))
        due = session.scalar(select(func.count()).select_from(Event).where(
            Event.next_check_at <= now, Event.status.in_(Event.OPEN_STATES)))
    print(f"events: {total:,}  with a pending checkpoint: {pending:,}  due now: {due:,}")

    query = (select(Event.id).where(Event.next_check_at <= now, Event.status.in_(Event.OPEN_STATES))
             .order_by(Event.next_check_at).limit(args.limit))
    times = []
    for _ in range(args.runs + 1):
        with factory() as session:
            started = time.perf_counter()
            found = len(list(session.scalars(query)))
            times.append(time.perf_counter() - started)
    times = times[1:]  # the first run warms the connection and the plan cache
    print(f"due-event scan (limit {args.limit}, found {found}): best {min(times) * 1000:.1f} ms, "
          f"median {statistics.median(times) * 1000:.1f} ms over {args.runs} runs")

    with factory() as session:
        notices_before = session.scalar(select(func.count()).select_from(SupervisionNotice))
        outbox_before = session.scalar(select(func.count()).select_from(OutboxMessage))
    started = time.perf_counter()
    fired = supervision.sweep(factory, now=now, limit=args.limit)
    elapsed = time.perf_counter() - started
    with factory() as session:
        notices = session.scalar(select(func.count()).select_from(SupervisionNotice)) - notices_before
        pushes = session.scalar(select(func.count()).select_from(OutboxMessage)) - outbox_before
    handled = min(due, args.limit)
    verdict = "OK" if elapsed <= TARGET else "OVER TARGET"
    print(f"one sweep at now: {handled} due events, {fired} notices fired ({notices} recorded, {pushes} pushes "
          f"queued) in {elapsed:.3f} s — target ≤ {TARGET:.1f} s: {verdict}")
    if handled:
        print(f"  per due event: {elapsed / handled * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
