"""Due times on events (限时办理): each round of an event has a respond and a resolve deadline.

A round starts when the event is reported, escalated or reopened. The checkpoints of the round
(80 % reminders, overdue, overdue again) are derived from the stored due times, and the earliest
one still pending is kept in `next_check_at`, the one column the supervision sweep scans.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain.models import Event


def checkpoints(event: Event) -> list[tuple[str, datetime]]:
    """The supervision moments of the current round that still matter, in time order."""
    if event.status not in Event.OPEN_STATES or event.clock_started_at is None:
        return []
    points: list[tuple[str, datetime]] = []
    start = event.clock_started_at
    if event.accepted_at is None and event.respond_due_at is not None:
        due = event.respond_due_at
        points += [("respond_remind", event.respond_remind_at or due), ("respond_overdue", due),
                   ("respond_overdue2", due + (due - start))]
    if event.completed_at is None and event.resolve_due_at is not None:
        due = event.resolve_due_at
        points += [("resolve_remind", event.resolve_remind_at or due), ("resolve_overdue", due),
                   ("resolve_overdue2", due + (due - start))]
    return sorted(points, key=lambda point: point[1])


def refresh(event: Event, done: Iterable[str] = ()) -> None:
    done = set(done)
    pending = [at for kind, at in checkpoints(event) if kind not in done]
    event.next_check_at = min(pending) if pending else None


def limit_due(event: Event, kind: str) -> datetime | None:
    return event.respond_due_at if kind.startswith("respond") else event.resolve_due_at
