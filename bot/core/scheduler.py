"""Background jobs on APScheduler, owned by the runtime (as python-telegram-bot's `Application`
owns its `JobQueue`): every job is a named function that receives the runtime.

Only the leader runs jobs: a Redis lock with a TTL, renewed on every tick, so that several
service processes sharing one Redis run each job once. The embedded store is single-process.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

if TYPE_CHECKING:
    from bot.core.runtime import Runtime

log = logging.getLogger(__name__)
LEADER_TTL = 15
LEADER_LOCK = "scheduler-leader"

Job = Callable[["Runtime"], object]


class Scheduler:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.owner = uuid.uuid4().hex
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        self.leader = False
        self._leading = threading.Lock()

    def is_leader(self) -> bool:
        # Jobs run in several threads and two may ask at once (at start, every at_start job does):
        # one at a time, so a change of leadership is seen, and logged, once.
        with self._leading:
            was = self.leader
            self.leader = self.runtime.store.acquire_lock(LEADER_LOCK, LEADER_TTL, self.owner) is not None
            if self.leader != was:
                log.info("scheduler leadership %s", "taken" if self.leader else "lost")
            return self.leader

    def every(self, seconds: float, job: Job, name: str | None = None, at_start: bool = False) -> None:
        """Run `job(runtime)` every `seconds` on the leader; `at_start` also runs it right away (catch-up)."""
        name = name or job.__name__

        def run():
            if not self.is_leader():
                return
            try:
                job(self.runtime)
            except Exception:
                log.exception("job %s failed", name)

        first = {"next_run_time": datetime.now(UTC)} if at_start else {}
        self.scheduler.add_job(run, "interval", seconds=seconds, id=name, name=name, **first)

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop running jobs (waiting for one in progress) and hand the leader lock back; idempotent."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.leader:
            self.runtime.store.release_lock(LEADER_LOCK, self.owner)
            self.leader = False
