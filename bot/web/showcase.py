"""晒单: the public showcase page of completed volunteer services (`GET /showcase`).

Server-rendered (Jinja2, autoescaped), Chinese, no login. Only rated (满意 / 基本满意) services whose
resident did not opt out are shown; the resident never appears, the volunteer's name is masked
(周红 → 周*), and no free text that could carry personal data (notes, comments) is rendered.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from bot.core.db import session_factory
from bot.domain.models import Order, PointsEntry
from bot.domain.privacy import mask_name
from bot.domain.vocabulary import DAY, RATING_LABELS, local_text
from bot.orders import present, queries

router = APIRouter(tags=["showcase"])
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _photo(order: Order) -> str | None:
    for photo in reversed(order.photos):
        if photo.url and photo.url.startswith(("https://", "http://")):
            return photo.url
    return None


def items() -> tuple[list[dict], dict]:
    """The showcase rows and the totals shown above them: plain, already-masked values."""
    with session_factory()() as session:
        rows = [{
            "service": order.service,
            "grid": present.grid_label(order.grid) or "本社区",
            "date": local_text(order.completed_at, DAY),
            "rating": RATING_LABELS.get(order.rating or "", ""),
            "volunteer": mask_name(order.volunteer.name if order.volunteer else ""),
            "hours": order.hours,
            "photo": _photo(order),
        } for order in queries.showcase(session)]
        services, hours, volunteers = session.execute(
            select(func.count(PointsEntry.id), func.coalesce(func.sum(PointsEntry.hours), 0.0),
                   func.count(func.distinct(PointsEntry.volunteer_id)))
        ).one()
    return rows, {"services": int(services), "hours": float(hours), "volunteers": int(volunteers)}


@router.get("/showcase", response_class=HTMLResponse)
def showcase(request: Request) -> HTMLResponse:
    """The public 晒单 page."""
    rows, stats = items()
    return templates.TemplateResponse(request, "showcase.html", {"rows": rows, "stats": stats})
