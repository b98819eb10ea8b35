"""Every admin router in one place: the app factory includes these and mounts the page assets."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from admin import desk, pages
from admin.api import alerts, duty, events, grids, ledger, orders, outbox, rules, rules_form, session, stats, workers

ROUTERS: tuple[APIRouter, ...] = (
    session.router,  # /api/login, /api/logout, /api/me
    events.router,  # /api/events, /api/events/{number} and its actions
    orders.router,  # /api/orders (五单)
    grids.router,  # /api/grids, import, export
    workers.router,  # /api/workers, bind codes, /api/volunteers/import, export
    rules_form.router,  # /api/rules/form (before /api/rules' own paths; nothing there collides)
    rules.router,  # /api/rules
    outbox.router,  # /api/outbox: dead and unknown pushes, re-queue
    stats.router,  # /api/stats/overview
    ledger.router,  # /api/events.xlsx (台账)
    stats.rates_router,  # /api/rates (三率)
    alerts.router,  # /api/alerts/urgent, /api/queue (issue 15: the urgent alarm, the dispatcher queue)
    alerts.pages,  # /admin/queue
    duty.router,  # /api/duty (the duty roster for urgent reports from unknown places)
    pages.router,  # /admin/ (HTML)
    desk.router,  # /admin/orders, /admin/volunteers/hours, /admin/map, /admin/audit (HTML)
)


def include_routers(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/admin/static", pages.static(), name="admin-static")
