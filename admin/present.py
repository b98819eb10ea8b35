"""Events as the dispatcher sees them: JSON-ready, phone numbers masked unless the role needs them."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import nlp
from bot.domain.lifecycle import ACTION_LABELS, STATUS_LABELS
from bot.domain.models import Event, Follower, Rating
from bot.events.ratings import LABELS as RATING_LABELS
from settings import get_settings

PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phone(text: str | None) -> str | None:
    """13812345678 → 138****5678, wherever it appears in the text."""
    return PHONE.sub(r"\1****\3", text) if text else text


def local_iso(dt) -> str | None:
    return dt.astimezone(ZoneInfo(get_settings().timezone)).isoformat(timespec="seconds") if dt else None


def event_json(session: Session, event: Event, *, show_phone: bool = False) -> dict:
    keep = (lambda t: t) if show_phone else mask_phone
    ratings = session.scalars(select(Rating).where(Rating.event_id == event.id).order_by(Rating.id))
    followers = session.scalars(select(Follower).where(Follower.event_id == event.id))
    return {
        "number": event.number,
        "status": event.status,
        "status_label": STATUS_LABELS[event.status],
        "source": event.source,
        "text": keep(event.text),
        "intent": event.intent,
        "category": event.category,
        "category_label": nlp.category_label(event.category),
        "subcategory": event.subcategory,
        "grade": event.grade,
        "urgent": event.urgent,
        "flagged": event.flagged,
        "overdue": event.overdue,
        "overdue_count": event.overdue_count,
        "respond_due_at": local_iso(event.respond_due_at),
        "resolve_due_at": local_iso(event.resolve_due_at),
        "accepted_at": local_iso(event.accepted_at),
        "completed_at": local_iso(event.completed_at),
        "classification": {"confidence": event.confidence, "rule": event.rule},
        "place": event.place_text,
        "lat": event.lat,
        "lng": event.lng,
        "phone": keep(event.phone),
        "grid": event.grid.full_name if event.grid else None,
        "unit": event.unit,
        "worker": {"id": event.worker.id, "name": event.worker.name, "phone": keep(event.worker.phone)}
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
        "ratings": [{"value": r.value, "label": RATING_LABELS.get(r.value, r.value), "comment": keep(r.comment),
                     "round": r.round, "at": local_iso(r.at)} for r in ratings],
        "timeline": [{"at": local_iso(t.at), "actor": t.actor, "actor_name": t.actor_name, "action": t.action,
                      "action_label": ACTION_LABELS.get(t.action, t.action), "from": t.from_status,
                      "to": t.to_status, "note": keep(t.note)} for t in event.timeline],
    }
