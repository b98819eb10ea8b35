"""Every admin router in one place: the app factory includes these and mounts the page assets."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from admin import pages
from admin.api import alerts, duty, events, grids, ledger, orders, rules, session, stats, workers

ROUTERS: tuple[APIRouter, ...] = (
    session.router,  # /api/login, /api/logout, /api/me
    events.router,  # /api/events, /api/events/{number} and its actions
    orders.router,  # /api/orders (五单)
    grids.router,  # /api/grids, import, export
    workers.router,  # /api/workers, bind codes, /api/volunteers/import, export
    rules.router,  # /api/rules
    stats.router,  # /api/stats/overview
    ledger.router,  # /api/events.xlsx (台账)
    stats.rates_router,  # /api/rates (三率)
    alerts.router,  # /api/alerts/urgent, /api/queue (issue 15: the urgent alarm, the dispatcher queue)
    alerts.pages,  # /admin/queue
    duty.router,  # /api/duty (the duty roster for urgent reports from unknown places)
    pages.router,  # /admin/ (HTML)
)


def include_routers(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/admin/static", pages.static(), name="admin-static")
