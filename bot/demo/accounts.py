"""The demo's admin-page logins: a dispatcher who can act and a viewer who can only look."""

from __future__ import annotations

from sqlalchemy.orm import Session

from admin.auth import add_user

# (username, password, role, what the demo's banner calls it)
LOGINS = [
    ("demo-dispatcher", "weilinli-demo", "dispatcher", "调度员（可操作）"),
    ("demo-viewer", "weilinli-demo", "viewer", "只读账号"),
]


def create(session: Session) -> list[tuple[str, str, str]]:
    """Create (or reset) the demo logins; (username, password, label) for the banner."""
    for username, password, role, _label in LOGINS:
        add_user(session, username, password, role)
    return [(username, password, label) for username, password, _role, label in LOGINS]
