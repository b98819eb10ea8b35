"""Bulk test data for benchmarks: N events with a realistic spread, loaded into PostgreSQL with COPY.

    createdb -h 127.0.0.1 -U postgres weilinli_bench
    WEILINLI_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/weilinli_bench weilinli db upgrade
    python bench/generate.py --events 1000000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/weilinli_bench --reset

What it writes (ids are explicit, sequences are moved past them afterwards):

- a grid tree 区 → 街道 → 社区 → 网格 (default 1 × 12 × 8 × 6 = 576 grids) with one grid worker per
  grid, and residents (one per 20 events) living in those grids;
- events over the last `--months` months up to now (more in the day than at night, a mild trend
  and season, a few busy grids), with ABCD grades (70/20/8/2 %), the taxonomy's categories, due
  times from the real time limits and Chinese working-day calendar (`bot.timelimits.policy`, memoised
  per grade and 15-minute slot), and a life that fits their age: old events are closed and rated,
  recent ones still open; ~8 % answered late, ~12 % completed late, some cancelled / merged /
  rejected, 督办 flags and `next_check_at` for the open ones;
- ratings: the reporter's (satisfied 80 %, basic 12 %, unsatisfied 8 %, or 未评价 when no answer
  came within 7 days), a second round after a 不满意 reopen, and followers' ratings on a few events.

The numbers are per day (`WL20261123-0042`) and `daily_counter` is set so the service continues them.
Refuses a database named `test` (the suite's) unless `--force`, and a non-empty event table unless
`--reset` (which TRUNCATEs the generated tables and what references them).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bot.domain.numbering import CONTINUE_COUNTERS  # noqa: E402
from bot.domain.vocabulary import day_key, format_number  # noqa: E402
from bot.timelimits import policy  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
STREETS = ["水果湖街道", "中南路街道", "中华路街道", "积玉桥街道", "杨园街道", "徐家棚街道", "粮道街道", "首义路街道",
           "紫阳街道", "白沙洲街道", "南湖街道", "珞珈山街道", "黄鹤楼街道", "石洞街道", "东亭街道", "和平街道"]
CATEGORIES = {  # code: (weight, sample problems)
    "environment": (22, ["垃圾没人清运", "有人乱倒建筑垃圾", "楼下小广告贴满了", "饭店油烟太大", "占道经营"]),
    "facility": (18, ["路灯不亮", "路面坑洼", "井盖缺失", "下水道堵塞", "雨后积水", "停水了"]),
    "property": (17, ["电梯故障", "楼道灯坏了", "天花板漏水", "门禁坏了", "物业不作为"]),
    "safety": (9, ["有人飞线充电", "电动车推进楼道", "消防通道被堵", "高空抛物", "闻到燃气味"]),
    "security": (4, ["电瓶车被偷", "有可疑人员", "接到诈骗电话"]),
    "dispute": (10, ["楼上装修太吵", "邻居噪音扰民", "狗半夜叫", "漏水纠纷"]),
    "traffic": (9, ["小区门口乱停车", "车位被占", "僵尸车", "共享单车乱放"]),
    "greening": (5, ["大树倒了", "树枝挡住窗户", "绿地被种菜"]),
    "welfare": (4, ["咨询低保", "申请困难补助", "养老服务", "开证明"]),
    "other": (2, ["有个事想问问"]),
}
GRADES = [("A", 70), ("B", 20), ("C", 8), ("D", 2)]
EXCLUDED = {"cancelled": 0.02, "merged": 0.01, "rejected": 0.02}
LATE_RESPOND, LATE_RESOLVE = 0.08, 0.12
RATED_SHARE, FOLLOWER_SHARE = 0.78, 0.05
RATING_VALUES = [("satisfied", 80), ("basic", 12), ("unsatisfied", 8)]
EVENT_COLUMNS = [
    "id", "number", "reporter_id", "source", "source_key", "text", "intent", "category", "subcategory", "grade",
    "urgent", "flagged", "confidence", "rule", "place_text", "phone", "lat", "lng", "grid_id", "worker_id", "unit",
    "status", "reopen_count", "merged_into_id", "rating", "closed_at", "deadline_round", "clock_started_at",
    "respond_due_at", "respond_remind_at", "resolve_due_at", "resolve_remind_at", "accepted_at", "completed_at",
    "overdue", "overdue_count", "next_check_at", "created_at", "updated_at",
]
RATING_COLUMNS = ["id", "event_id", "resident_id", "round", "value", "comment", "at"]
GENERATED_TABLES = ["grid", "worker", "resident", "event", "rating", "daily_counter"]


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://").replace("postgresql+psycopg2://", "postgresql://")


def weighted(items: list[tuple[object, float]]):
    """A fast weighted chooser: cumulative weights + bisect."""
    values = [v for v, _ in items]
    cumulative = list(itertools.accumulate(w for _, w in items))
    total = cumulative[-1]

    def choose(rng: random.Random):
        return values[bisect.bisect_right(cumulative, rng.random() * total)]

    return choose


class Deadlines:
    """Due and reminder times from the real limits and calendar, memoised per grade and 15 minutes."""

    SLOT = 900

    def __init__(self):
        self.limits = policy.time_limits_from_settings()
        self.memo: dict[tuple[str, int], policy.EventDeadlines] = {}

    def __call__(self, start: datetime, grade: str):
        slot = int(start.timestamp()) // self.SLOT
        found = self.memo.get((grade, slot))
        if found is None:
            found = policy.event_deadlines(datetime.fromtimestamp(slot * self.SLOT, UTC), grade)
            self.memo[(grade, slot)] = found
        result = []
        for kind in ("respond", "resolve"):
            limit = getattr(self.limits[grade], kind)
            if limit.unit == "wd":
                deadline = getattr(found, kind)
                result += [deadline.due.astimezone(UTC), deadline.remind_at.astimezone(UTC)]
            else:
                span = limit.duration
                result += [start + span, start + span * policy.REMINDER_FRACTION]
        return result  # respond due, respond remind, resolve due, resolve remind


def month_starts(end: datetime, months: int) -> list[datetime]:
    local = end.astimezone(TZ)
    year, month = local.year, local.month
    starts = []
    for _ in range(months):
        starts.append(datetime(year, month, 1, tzinfo=TZ))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(starts))


class Generator:
    def __init__(self, args, now: datetime):
        self.args, self.now = args, now
        self.rng = random.Random(args.seed)
        self.deadlines = Deadlines()
        self.grids: list[tuple[int, int | None, str, str, str]] = []  # id, parent, level, name, aliases
        self.place_grids: list[tuple[int, str, int]] = []  # grid id, alias, worker id
        self.residents: list[tuple[int, int]] = []
        self.counters: dict[str, int] = {}
        self.rating_id = 0
        self.ratings: list[tuple] = []
        self.stats = {"events": 0, "ratings": 0, "open": 0, "excluded": 0}

    # ------------------------------------------------------------------ places, people
    def build_places(self) -> tuple[list[tuple], list[tuple], list[tuple]]:
        ids = itertools.count(1)
        district = next(ids)
        grids = [(district, None, "district", "武昌区", "")]
        workers, residents = [], []
        streets = (STREETS * (self.args.streets // len(STREETS) + 1))[: self.args.streets]
        for s_index, street_name in enumerate(streets):
            street_name = street_name if s_index < len(STREETS) else f"{street_name[:-2]}{s_index}街道"
            street = next(ids)
            grids.append((street, district, "street", street_name, ""))
            for c in range(1, self.args.communities + 1):
                community = next(ids)
                community_name = f"{street_name[:-2]}{c}社区"
                grids.append((community, street, "community", community_name, ""))
                for g in range(1, self.args.grids + 1):
                    grid = next(ids)
                    alias = f"{street_name[:2]}{c}{g}小区"
                    grids.append((grid, community, "grid", f"{community_name[:-2]}{g}网格", alias))
                    worker = len(workers) + 1
                    workers.append((worker, f"网格员{worker:04d}", f"139{worker:08d}", "grid_worker", grid, None, "",
                                    True))
                    self.place_grids.append((grid, alias, worker))
        n_residents = max(1, self.args.events // 20)
        created = self.now - timedelta(days=31 * self.args.months + 30)
        for rid in range(1, n_residents + 1):
            grid = self.rng.choice(self.place_grids)[0]
            residents.append((rid, f"o-bench-{rid:07d}", grid, True, None, created))
            self.residents.append((rid, grid))
        self.grids = grids
        return grids, workers, residents

    # ------------------------------------------------------------------ events
    def events(self):
        rng, now = self.rng, self.now
        starts = month_starts(now, self.args.months)
        spans = []
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else now.astimezone(TZ)
            season = 1.0 + 0.15 * (1 if start.month in (6, 7, 8) else 0) - 0.1 * (start.month == 2)
            trend = 0.85 + 0.3 * index / max(1, len(starts) - 1)
            days = (end - start).total_seconds() / 86400
            spans.append(((start, end), days * season * trend))
        pick_span = weighted(spans)
        hours = weighted([(h, w) for h, w in enumerate(
            [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 10, 11, 12, 12, 11, 10, 10, 9, 7, 5, 3, 2])])
        grade_of = weighted(GRADES)
        category_of = weighted([(c, w) for c, (w, _) in CATEGORIES.items()])
        place_of = weighted([(p, 1.0 / (1 + (i % 37)) ** 0.6) for i, p in enumerate(self.place_grids)])
        value_of = weighted(RATING_VALUES)
        residents_by_grid: dict[int, list[int]] = {}
        for rid, grid in self.residents:
            residents_by_grid.setdefault(grid, []).append(rid)
        all_residents = [rid for rid, _ in self.residents]

        def moment():
            start, end = pick_span(rng)
            while True:
                day = start + timedelta(days=rng.randrange(max(1, (end - start).days + 1)))
                created = day.replace(hour=hours(rng), minute=rng.randrange(60), second=rng.randrange(60),
                                      microsecond=rng.randrange(1_000_000))
                if start <= created < end:
                    return created.timestamp()

        # Reports arrive in time order, so ids grow with created_at (the table's physical order too).
        moments = sorted(moment() for _ in range(self.args.events))
        for event_id, stamp in enumerate(moments, 1):
            created = datetime.fromtimestamp(stamp, UTC)
            grade, category = grade_of(rng), category_of(rng)
            grid, alias, grid_worker = place_of(rng)
            worker = grid_worker if grade == "A" or rng.random() < 0.6 else None
            neighbours = residents_by_grid.get(grid) or all_residents
            reporter = rng.choice(neighbours)
            respond_due, respond_remind, resolve_due, resolve_remind = self.deadlines(created, grade)
            yield self._life(event_id, created, grade, category, grid, alias, worker, reporter, neighbours,
                             respond_due, respond_remind, resolve_due, resolve_remind, value_of)

    def _number(self, created: datetime) -> str:
        key = day_key(created.astimezone(TZ))
        value = self.counters.get(key, 0) + 1
        self.counters[key] = value
        return format_number(key, value)

    def _life(self, event_id, created, grade, category, grid, alias, worker, reporter, neighbours,
              respond_due, respond_remind, resolve_due, resolve_remind, value_of):
        rng, now = self.rng, self.now
        problem = rng.choice(CATEGORIES[category][1])
        building = rng.randrange(1, 30)
        text = f"{alias}{building}栋{problem}，请尽快处理"
        place = f"{alias}{building}栋" if rng.random() < 0.6 else None
        phone = f"13{rng.randrange(10**9):09d}" if rng.random() < 0.1 else None
        source = "wechat" if phone is None else rng.choice(("open311", "patrol"))
        status, accepted, completed, closed, rating = "reported", None, None, None, None
        overdue_count, reopen = 0, 0
        respond_span = (respond_due - created).total_seconds()
        resolve_span = (resolve_due - created).total_seconds()

        side = rng.random()
        if side < sum(EXCLUDED.values()):
            status = "cancelled" if side < 0.02 else "merged" if side < 0.03 else "rejected"
            self.stats["excluded"] += 1
        else:
            if worker is not None or grade != "A":
                status = "assigned"
            late = rng.random() < LATE_RESPOND
            accept_at = created + timedelta(seconds=respond_span * (rng.uniform(1.02, 3.0) if late
                                                                     else rng.uniform(0.02, 0.98)))
            if status == "assigned" and accept_at <= now:
                accepted, status = accept_at, "accepted"
                late_done = rng.random() < LATE_RESOLVE
                finish = accepted + timedelta(seconds=max(600.0, (resolve_due - accepted).total_seconds())
                                              * (rng.uniform(1.02, 2.5) if late_done else rng.uniform(0.05, 0.97)))
                if late_done and finish <= resolve_due:
                    finish = resolve_due + timedelta(minutes=rng.randrange(10, 600))
                if finish <= now:
                    completed, status = finish, "completed"
                    close_at = finish + timedelta(hours=rng.uniform(1, 48))
                    if close_at <= now:
                        closed, status = close_at, "closed"
            if accepted is None and respond_due <= now:
                overdue_count = 2 if now - respond_due > timedelta(seconds=respond_span) else 1
            elif (accepted and accepted > respond_due) or (completed and completed > resolve_due) or (
                    completed is None and resolve_due <= now):
                overdue_count = 1 if not (completed is None and now - resolve_due > timedelta(seconds=resolve_span)) \
                    else 2
        if closed is not None:
            status, rating, reopen = self._rate(event_id, reporter, neighbours, closed, value_of)
        overdue = status in ("reported", "assigned", "accepted") and overdue_count > 0
        next_check = None
        if status in ("reported", "assigned", "accepted"):
            self.stats["open"] += 1
            points = ([respond_remind, respond_due, respond_due + (respond_due - created)] if accepted is None else [])
            points += [resolve_remind, resolve_due, resolve_due + (resolve_due - created)] if completed is None else []
            future = [p for p in points if p > now]
            next_check = min(future) if future else None
            if points and rng.random() < 0.005:  # came due while the service was down
                next_check = min(points)
        unit = f"grid:{grid}" if worker is not None else {"A": "dispatch", "B": "street", "C": "district",
                                                           "D": "city"}[grade]
        updated = max(t for t in (created, accepted, completed, closed) if t is not None)
        self.stats["events"] += 1
        return (event_id, self._number(created), reporter, source, None, text, "report", category, problem, grade,
                category == "safety" and rng.random() < 0.1, False, round(rng.uniform(0.5, 0.99), 2),
                f"bench:{category}", place, phone, None, None, grid, worker, unit, status, reopen, None, rating,
                closed, reopen, created, respond_due, respond_remind, resolve_due, resolve_remind, accepted,
                completed, overdue, overdue_count, next_check, created, updated)

    def _rating(self, event_id, resident, round_, value, at):
        self.rating_id += 1
        self.ratings.append((self.rating_id, event_id, resident, round_, value, "", at))

    def _rate(self, event_id, reporter, neighbours, closed, value_of):
        rng, now = self.rng, self.now
        rate_at = closed + timedelta(hours=rng.uniform(0.2, 100))
        if rng.random() >= RATED_SHARE or rate_at > now:
            if closed + timedelta(days=7) <= now:
                self._rating(event_id, reporter, 0, "unrated", closed + timedelta(days=7))
                return "closed", "unrated", 0
            return "closed", None, 0
        value, reopen = value_of(rng), 0
        self._rating(event_id, reporter, 0, value, rate_at)
        if rng.random() < FOLLOWER_SHARE:
            for other in {rng.choice(neighbours) for _ in range(2)} - {reporter}:
                self._rating(event_id, other, 0, value_of(rng), rate_at + timedelta(minutes=rng.randrange(1, 600)))
        if value == "unsatisfied" and rate_at + timedelta(days=2) <= now:
            reopen = 1
            value = value_of(rng)
            self._rating(event_id, reporter, 1, value, rate_at + timedelta(days=2))
        return "rated", value, reopen


def check_target(conn, args) -> None:
    name = conn.info.dbname
    if name == "test" and not args.force:
        sys.exit("refusing to write into the database named 'test' (the test suite's); use another or --force")
    missing = [t for t in GENERATED_TABLES if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is None]
    if missing:
        sys.exit(f"tables missing ({', '.join(missing)}): run `WEILINLI_DATABASE_URL=… weilinli db upgrade` first")
    existing = conn.execute("SELECT count(*) FROM event").fetchone()[0]
    if existing and not args.reset:
        sys.exit(f"the event table already holds {existing} rows: add --reset to replace them")


def extra_not_null(conn, table: str, known: list[str]) -> list[tuple[str, object]]:
    """Columns another migration added as NOT NULL without a default: filled with a zero value."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL", (table,)).fetchall()
    zero = {"boolean": False, "integer": 0, "bigint": 0, "double precision": 0.0, "real": 0.0, "json": "{}",
            "jsonb": "{}"}
    return [(name, zero.get(kind, "")) for name, kind in rows if name not in known]


def copy_rows(conn, table: str, columns: list[str], rows, extra: list[tuple[str, object]] = ()) -> int:
    names = columns + [name for name, _ in extra]
    tail = tuple(value for _, value in extra)
    count = 0
    with conn.cursor().copy(f"COPY \"{table}\" ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row + tail if tail else row)
            count += 1
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: WEILINLI_DATABASE_URL)")
    parser.add_argument("--months", type=int, default=12, help="months of history, ending now")
    parser.add_argument("--streets", type=int, default=12)
    parser.add_argument("--communities", type=int, default=8, help="per street")
    parser.add_argument("--grids", type=int, default=6, help="per community")
    parser.add_argument("--seed", type=int, default=20191014)
    parser.add_argument("--reset", action="store_true", help="TRUNCATE the generated tables first")
    parser.add_argument("--force", action="store_true", help="allow the database named 'test'")
    args = parser.parse_args(argv)
    import os

    url = args.database_url or os.environ.get("WEILINLI_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("a PostgreSQL --database-url (or WEILINLI_DATABASE_URL) is required")
    began = time.perf_counter()
    now = datetime.now(UTC)
    gen = Generator(args, now)
    with psycopg.connect(libpq_url(url)) as conn:
        check_target(conn, args)
        if args.reset:
            conn.execute(f"TRUNCATE {', '.join(GENERATED_TABLES)} RESTART IDENTITY CASCADE")
        # The generated rows are consistent by construction: skip the per-row foreign-key triggers
        # during COPY (needs a superuser; without one the load is just slower).
        try:
            with conn.transaction():
                conn.execute("SET session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            print("not a superuser: foreign keys are checked row by row (slower)", flush=True)
        grids, workers, residents = gen.build_places()
        copy_rows(conn, "grid", ["id", "parent_id", "level", "name", "aliases"], grids,
                  extra_not_null(conn, "grid", ["id", "parent_id", "level", "name", "aliases"]))
        wcols = ["id", "name", "phone", "role", "grid_id", "openid", "skills", "active"]
        copy_rows(conn, "worker", wcols, workers, extra_not_null(conn, "worker", wcols))
        rcols = ["id", "openid", "grid_id", "subscribed", "last_message_at", "created_at"]
        copy_rows(conn, "resident", rcols, residents, extra_not_null(conn, "resident", rcols))
        print(f"places: {len(grids)} grids, {len(workers)} workers, {len(residents)} residents", flush=True)

        def progress(rows):
            step = max(1, args.events // 20)
            for index, row in enumerate(rows, 1):
                if index % step == 0:
                    print(f"  events {index:>9,} / {args.events:,}  {time.perf_counter() - began:6.1f}s", flush=True)
                yield row

        # Plain indexes are rebuilt once after the load (much faster than row by row); the ones
        # behind primary keys and unique constraints stay. All in this transaction: a failure
        # rolls the drops back too.
        rebuild = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('event', 'rating') AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))").fetchall()
        for name, _ in rebuild:
            conn.execute(f'DROP INDEX "{name}"')
        copy_rows(conn, "event", EVENT_COLUMNS, progress(gen.events()), extra_not_null(conn, "event", EVENT_COLUMNS))
        copy_rows(conn, "rating", RATING_COLUMNS, iter(gen.ratings), extra_not_null(conn, "rating", RATING_COLUMNS))
        print(f"  copied at {time.perf_counter() - began:.1f}s; rebuilding {len(rebuild)} indexes", flush=True)
        for _, definition in rebuild:
            conn.execute(definition)
        with conn.cursor().copy("COPY daily_counter (key, value) FROM STDIN") as copy:
            for key, value in gen.counters.items():
                copy.write_row((key, value))
        conn.execute(CONTINUE_COUNTERS)  # the service's numbers continue after these days' (numbering.py)
        for table in ("grid", "worker", "resident", "event", "rating"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))")
        conn.commit()
    loaded = time.perf_counter() - began
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for table in ("grid", "worker", "resident", "event", "rating", "daily_counter"):
            conn.execute(f'VACUUM ANALYZE "{table}"')
    print(f"loaded {gen.stats['events']:,} events ({gen.stats['open']:,} open, {gen.stats['excluded']:,} "
          f"cancelled/merged/rejected) and {len(gen.ratings):,} ratings in {loaded:.1f}s; "
          f"VACUUM ANALYZE done at {time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    main()
