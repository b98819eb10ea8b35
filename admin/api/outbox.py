"""The push outbox for admins: counts by status, the dead and unknown pushes, the operator warnings
(a missing template id), and re-queuing (`GET /api/outbox`, `POST /api/outbox/requeue`); and the
messages stored first whose handling failed, retried by `POST /api/inbox/retry`.

Pushes carry residents' messages: only unscoped dispatchers and admins see them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy.orm import Session

from admin import auth
from admin.deps import DB, Actor, Body, Viewer
from bot.domain.models import LoginSession
from bot.domain.vocabulary import local_iso
from bot.notify import outbox
from bot.wechat import inbox
from bot.wechat.push import template_warnings

router = APIRouter(prefix="/api", tags=["dispatcher pages"])


def _unscoped(login: LoginSession) -> None:
    if login.user.role not in auth.CAN_ACT or login.user.scope_grid_id is not None:
        raise HTTPException(403, "推送队列涉及全区居民，只有未限定辖区的管理员或调度员可以查看")


def outbox_json(session: Session) -> dict:
    return {
        "counts": outbox.counts(session),
        "stored_first": inbox.counts(session),  # messages answered 已收到 first, handled in the background
        "warnings": template_warnings(),
        "held": [
            {
                "id": m.id,
                "status": m.status,
                "openid": m.openid,
                "channel": m.channel,
                "attempts": m.attempts,
                "error": m.last_error,
                "event_id": m.event_id,
                "text": str(m.payload.get("text", ""))[:200],
                "queued_at": local_iso(m.created_at),
            }
            for m in outbox.held(session)
        ],
        "failed_messages": [
            {
                "id": m.id,
                "openid": m.openid,
                "number": m.number,  # promised in the 已收到 answer: a retry's report takes it
                "text": str(m.payload.get("text", ""))[:200],
                "kind": m.payload.get("msg_type"),
                "attempts": m.attempts,
                "error": m.last_error,
                "received_at": local_iso(m.received_at),
            }
            for m in inbox.failed(session)
        ],
    }


@router.get("/outbox")
def get_outbox(session: DB, login: Viewer) -> dict:
    """Pushes by status, the held ones (`dead`: given up; `unknown`: may have been delivered), the
    messages stored first by status (`pending`/`processing`: still to be handled) and what the
    operator must configure."""
    _unscoped(login)
    return outbox_json(session)


def _chosen(body: dict, what: str) -> list[int] | None:
    """`ids` (a list of row ids) or `all: true` (None: every one)."""
    ids = body.get("ids")
    if body.get("all") is True:
        return None
    if isinstance(ids, list) and ids and all(isinstance(i, int) and 0 < i < 2**31 for i in ids):
        return ids
    raise HTTPException(400, f"请给出要重新排队的{what} ids（数字列表）或 all: true")


@router.post("/outbox/requeue")
def requeue(session: DB, login: Actor, body: Body) -> dict:
    """Re-queue held pushes: `ids` (a list) or `all: true`."""
    _unscoped(login)
    return {"requeued": outbox.requeue(session, _chosen(body, "推送"))}


@router.post("/inbox/retry")
def retry_stored(session: DB, login: Actor, body: Body) -> dict:
    """Handle failed stored messages again (`failed_messages` of GET /api/outbox): `ids` or `all: true`."""
    _unscoped(login)
    return {"retried": inbox.retry(session, _chosen(body, "消息"))}
