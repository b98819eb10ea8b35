"""EXPERIMENT, not the product: the service with event numbers taken in their own short transaction.

`bot.numbering.next_number` increments the day's row in `daily_counter` inside the report's
transaction, so the row stays locked until that transaction commits — every concurrent report in
every worker queues behind it (pg_stat_activity during the bench: most sessions wait on
`UPDATE daily_counter …`). This factory patches it, for measurement only, to increment the counter
in a separate transaction on its own pooled connection that commits at once (a number whose report
later rolls back is then skipped: a gap in the sequence, as with a PostgreSQL SEQUENCE).

    python bench/webhook_bench.py --service-app bench.experiment_numbering:create_app

Nothing in bot/ is changed; the figures it gives are what that change to bot/numbering.py would buy.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bot import events, numbering, orders  # noqa: E402
from bot.db import get_engine  # noqa: E402
from bot.models import DailyCounter  # noqa: E402

_original = numbering.next_number


def next_number_own_transaction(session: Session, now: datetime | None = None) -> str:
    key = f"{numbering.PREFIX}{numbering.local_now(now).strftime('%Y%m%d')}"
    with get_engine().begin() as conn:  # commits (and unlocks the row) before the report goes on
        value = conn.execute(update(DailyCounter).where(DailyCounter.key == key)
                             .values(value=DailyCounter.value + 1).returning(DailyCounter.value)).scalar()
    if value is not None:
        return f"{key}-{value:04d}"
    return _original(session, now)  # the day's first number: create the row the product's way


def create_app():
    numbering.next_number = events.next_number = orders.next_number = next_number_own_transaction
    from bot.app import create_app as product_app

    return product_app()
