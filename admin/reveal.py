"""查看完整号码: revealing one masked contact to a dispatcher, with an audit row (who, when, which
event or order, what). Residents' contacts are masked everywhere by default (admin/deps.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.models import LoginSession, PhoneReveal
from bot.domain.privacy import mask_text


def record(session: Session, login: LoginSession, kind: str, number: str, field: str, reason: str = "") -> None:
    session.add(PhoneReveal(user_id=login.user.id, username=login.user.username, role=login.user.role,
                            target_kind=kind, target_number=number, field=field, reason=reason[:200], at=utcnow()))
    session.flush()


def whole(text: str | None) -> str:
    """The text with its contacts whole (ID-card numbers stay masked: nobody's work needs them)."""
    return mask_text(text, keep_contacts=True)
