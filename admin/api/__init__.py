"""The dispatcher JSON API under /api/ (OpenAPI at /docs), one router module per area.

Reading needs the `wl_session` cookie; changing anything needs the dispatcher or admin role and
the session's CSRF token (`X-CSRF-Token` header or `csrf_token` field); scope applies to every
event, order, grid and worker (admin/deps.py).
"""
