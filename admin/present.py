"""Events, grids and people as the dispatcher's pages and API show them: JSON-ready dicts, personal
data masked by bot.domain.privacy for the reader (`keep_contacts` for those who call residents back).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import nlp
from bot.core.db import utcnow
from bot.domain.lifecycle import ACTION_LABELS, STATUS_LABELS
from bot.domain.models import Event, Follower, Grid, Rating, Worker
from bot.domain.privacy import for_reader
from bot.domain.vocabulary import RATING_LABELS, UNIT_KIND_LABELS, local_iso
from bot.events import followup

ROLE_LABELS = {"grid_worker": "网格员", "volunteer": "志愿者"}
SOURCE_LABELS = {"wechat": "微信", "open311": "12345/Open311", "patrol": "网格员巡查"}
ACTOR_LABELS = {"resident": "居民", "worker": "网格员", "volunteer": "志愿者", "dispatcher": "调度员", "system": "系统"}


def event_json(session: Session, event: Event, *, keep_contacts: bool = False) -> dict:
    text, phone = for_reader(keep_contacts)
    ratings = session.scalars(select(Rating).where(Rating.event_id == event.id).order_by(Rating.id))
    followers = session.scalars(select(Follower).where(Follower.event_id == event.id))
    return {
        "number": event.number,
        "status": event.status,
        "status_label": STATUS_LABELS[event.status],
        "source": event.source,
        "source_label": SOURCE_LABELS.get(event.source, event.source),
        "text": text(event.text),
        "intent": event.intent,
        "category": event.category,
        "category_label": nlp.category_label(event.category),
        "subcategory": event.subcategory,
        "grade": event.grade,
        "urgent": event.urgent,
        "flagged": event.flagged and not followup.second_unsatisfied(event),
        "second_unsatisfied": followup.second_unsatisfied(event),
        "overdue": event.overdue,
        "overdue_count": event.overdue_count,
        "respond_due_at": local_iso(event.respond_due_at),
        "resolve_due_at": local_iso(event.resolve_due_at),
        "accepted_at": local_iso(event.accepted_at),
        "completed_at": local_iso(event.completed_at),
        "classification": {"confidence": event.confidence, "rule": event.rule},
        "place": text(event.place_text),
        "lat": event.lat,
        "lng": event.lng,
        "phone": phone(event.phone),
        "grid": event.grid.full_name if event.grid else None,
        "unit": event.unit,
        "worker": {"id": event.worker.id, "name": event.worker.name, "phone": phone(event.worker.phone)}
        if event.worker else None,
        "reopen_count": event.reopen_count,
        "rating": event.rating,
        "merged_into": event.merged_into_id,
        "followers": len(list(followers)),
        "created_at": local_iso(event.created_at),
        "updated_at": local_iso(event.updated_at),
        "closed_at": local_iso(event.closed_at),
        "attachments": [{"kind": a.kind, "url": a.url, "media_id": a.media_id, "label": a.label,
                         "stored": bool(a.local_path)} for a in event.attachments],
        "ratings": [{"value": r.value, "label": RATING_LABELS.get(r.value, r.value), "comment": text(r.comment),
                     "round": r.round, "at": local_iso(r.at)} for r in ratings],
        "timeline": timeline_json(event.timeline, ACTION_LABELS, text),
    }


def timeline_json(entries, action_labels: dict[str, str], text) -> list[dict]:
    """An event's or an order's timeline: when, who, what, from which state to which, the note."""
    return [{"at": local_iso(t.at), "actor": t.actor, "actor_label": ACTOR_LABELS.get(t.actor, t.actor),
             "actor_name": t.actor_name, "action": t.action,
             "action_label": action_labels.get(t.action, t.action), "from": t.from_status,
             "to": t.to_status, "note": text(t.note)} for t in entries]


def is_overdue(event: Event, now: datetime) -> bool:
    """Marked overdue, or an open event past a due time the sweep has not reached yet."""
    return bool(event.overdue) or (
        event.status in Event.OPEN_STATES
        and any(due is not None and due < now for due in (
            event.resolve_due_at, event.respond_due_at if event.status in Event.UNACCEPTED_STATES else None))
    )


def event_row(event: Event, now: datetime | None = None, *, keep_contacts: bool = False) -> dict:
    """The list's view of an event: summary only, personal data masked for the reader."""
    text, phone = for_reader(keep_contacts)
    return {
        "number": event.number,
        "status": event.status,
        "status_label": STATUS_LABELS.get(event.status, event.status),
        "category": event.category,
        "category_label": nlp.category_label(event.category),
        "subcategory": event.subcategory,
        "grade": event.grade,
        "urgent": event.urgent,
        "flagged": (event.flagged and not followup.second_unsatisfied(event)) or event.category == "other",
        "second_unsatisfied": followup.second_unsatisfied(event),
        "overdue": is_overdue(event, now or utcnow()),
        "text": text(event.text),
        "place": text(event.place_text),
        "phone": phone(event.phone),
        "grid": event.grid.full_name if event.grid else None,
        "grid_name": event.grid.name if event.grid else None,
        "community": _community(event),
        "worker": event.worker.name if event.worker else None,
        "handler": event.worker.name if event.worker else unit_label(event),
        "created_at": local_iso(event.created_at),
        "resolve_due_at": local_iso(event.resolve_due_at),
    }


def unit_label(event: Event) -> str:
    """Whose queue the event is in, in words."""
    if event.unit == "dispatch":
        return "指挥中心待调度"
    return UNIT_KIND_LABELS.get(event.unit.partition(":")[0], event.unit)


def _community(event: Event) -> str | None:
    community = event.grid.ancestor("community") if event.grid else None
    return community.name if community is not None and community is not event.grid else None


def grid_json(grid: Grid) -> dict:
    return {"id": grid.id, "parent_id": grid.parent_id, "level": grid.level, "name": grid.name,
            "full_name": grid.full_name, "aliases": grid.alias_list, "duty_phone": grid.duty_phone,
            "depth": len(grid.path) - 1}


def worker_json(worker: Worker, *, keep_contacts: bool = False) -> dict:
    _, phone = for_reader(keep_contacts)
    return {"id": worker.id, "name": worker.name, "phone": phone(worker.phone), "role": worker.role,
            "role_label": ROLE_LABELS.get(worker.role, worker.role), "grid_id": worker.grid_id,
            "grid": worker.grid.full_name if worker.grid else None, "active": worker.active,
            "bound": bool(worker.openid), "skills": [s for s in (worker.skills or "").split("|") if s]}
