"""A new round of time limits on an event: reported, escalated or reopened (限时办理)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.deadlines import refresh
from bot.domain.models import Event
from bot.timelimits import policy


def start_round(event: Event, start: datetime, *, new_round: bool) -> None:
    limits = policy.event_deadlines(start, event.grade, urgent=bool(event.urgent))
    if new_round:
        event.deadline_round += 1
    event.clock_started_at = start
    event.respond_due_at, event.respond_remind_at = limits.respond.due, limits.respond.remind_at
    event.resolve_due_at, event.resolve_remind_at = limits.resolve.due, limits.resolve.remind_at
    event.accepted_at = event.completed_at = None
    event.overdue_count = 0
    refresh(event)
