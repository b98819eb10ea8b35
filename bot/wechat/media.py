"""Keep residents' photos: WeChat's temporary media expires after 3 days (40007), so every image
attachment is downloaded soon after it arrives, by a scheduler job, off the webhook's 5 seconds.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from bot.core.db import session_factory, utcnow
from bot.core.store import get_store
from bot.domain.models import Attachment
from bot.wechat.client import Client, call
from settings import get_settings

log = logging.getLogger(__name__)
MEDIA_LIFETIME = timedelta(days=3)
MAX_TRIES = 5
MAX_BYTES = 10 * 1024 * 1024
KINDS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "audio/amr": ".amr"}


def media_dir() -> Path:
    return get_settings().data_dir / "media"


def fetch_pending(client: Client, limit: int = 20) -> int:
    """Download up to `limit` attachments that still have only a WeChat media id; returns how many."""
    store = get_store()
    since = utcnow() - MEDIA_LIFETIME
    with session_factory()() as session:
        pending = list(session.scalars(
            select(Attachment)
            .where(Attachment.media_id.is_not(None), Attachment.local_path.is_(None),
                   Attachment.kind.in_(("image", "voice")), Attachment.created_at >= since)
            .order_by(Attachment.id).limit(limit * 3)
        ))
        done = 0
        for item in pending:
            if done >= limit:
                break
            tries_key = f"wl:media-tries:{item.id}"
            if int(store.r.get(tries_key) or 0) >= MAX_TRIES:
                continue
            try:
                content, kind = call(client, client.download_media, item.media_id, MAX_BYTES)
            except (WeChatClientException, ValueError, OSError) as exc:  # requests' errors are OSErrors
                store.r.incr(tries_key)
                store.r.expire(tries_key, int(MEDIA_LIFETIME.total_seconds()))
                log.warning("media %s of attachment %s not fetched: %s", item.media_id, item.id, exc)
                continue
            suffix = KINDS.get(kind, ".bin")
            path = media_dir() / f"{item.event_id}" / f"{item.id}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            item.local_path = str(path)
            session.commit()
            done += 1
    return done
