"""The one place where the chat routers are put in order."""

from __future__ import annotations

from handlers import common, resident, volunteer, worker
from handlers.router import Context, Router

# Events and menu clicks first; then grid-worker and volunteer commands, which win over the
# resident's (the volunteer router also takes residents' service orders and their ratings).
root = Router("root").include_routers(common.router, worker.router, volunteer.router, resident.router)


def dispatch(ctx: Context) -> str | None:
    return root.dispatch(ctx)
