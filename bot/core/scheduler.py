"""Background jobs on APScheduler: the push outbox drain (and, later, time-limit sweeps).

Only the leader runs jobs: a Redis lock with a TTL, renewed on every tick, so that several
service processes sharing one Redis run each job once. The embedded store is single-process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.core.store import get_store

log = logging.getLogger(__name__)
LEADER_TTL = 15


class Scheduler:
    def __init__(self):
        self.owner = uuid.uuid4().hex
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        self.leader = False

    def is_leader(self) -> bool:
        was = self.leader
        self.leader = get_store().acquire_lock("scheduler-leader", LEADER_TTL, self.owner) is not None
        if self.leader != was:
            log.info("scheduler leadership %s", "taken" if self.leader else "lost")
        return self.leader

    def every(self, seconds: float, job: Callable[[], object], name: str, at_start: bool = False) -> None:
        """Run `job` every `seconds` on the leader; `at_start` also runs it right away (catch-up)."""
        def run():
            if not self.is_leader():
                return
            try:
                job()
            except Exception:
                log.exception("job %s failed", name)

        first = {"next_run_time": datetime.now(UTC)} if at_start else {}
        self.scheduler.add_job(run, "interval", seconds=seconds, id=name, name=name, **first)

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)
        if self.leader:
            get_store().release_lock("scheduler-leader", self.owner)
