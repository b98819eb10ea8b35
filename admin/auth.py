"""Admin logins: argon2 password hashes, server-side sessions, CSRF tokens, a login rate limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.domain.models import Grid, LoginSession, User
from settings import get_settings

ROLES = ("admin", "dispatcher", "viewer")
CAN_ACT = ("admin", "dispatcher")
hasher = PasswordHasher()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, username: str, password: str, role: str, scope: Grid | None = None) -> User:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, password_hash="", role=role)
        session.add(user)
    user.password_hash, user.role, user.scope, user.active = hasher.hash(password), role, scope, True
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        hasher.hash(password)  # spend the same time as a real check: usernames don't leak by timing
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def open_session(session: Session, user: User) -> tuple[str, str]:
    """A new login: returns (session token for the cookie, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utcnow()
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    session.add(LoginSession(token_hash=_digest(token), csrf_token=csrf, user=user,
                             expires_at=now + timedelta(hours=get_settings().admin_session_hours)))
    session.flush()
    return token, csrf


def find_session(session: Session, token: str | None) -> LoginSession | None:
    if not token:
        return None
    found = session.scalar(select(LoginSession).where(LoginSession.token_hash == _digest(token)))
    if found is None or found.expires_at < utcnow() or not found.user.active:
        return None
    return found


def close_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == _digest(token)))


def change_password(session: Session, user: User, current: str, new: str, keep_token: str | None) -> None:
    """A new password, checked against the current one; every other session of the user ends (a
    stolen cookie dies with the old password). ValueError for a wrong current or too short new one."""
    try:
        hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise ValueError("当前密码不正确") from None
    if len(new) < 8:
        raise ValueError("新密码至少需要8个字符")
    user.password_hash = hasher.hash(new)
    others = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_token:
        others = others.where(LoginSession.token_hash != _digest(keep_token))
    session.execute(others)


def set_active(session: Session, user: User, active: bool) -> None:
    """Disable (or enable again) a login; disabling ends all of its sessions at once."""
    user.active = active
    if not active:
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    session.flush()


def csrf_ok(login: LoginSession, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(login.csrf_token.encode(), presented.encode())


def in_scope(user: User, grid: Grid | None) -> bool:
    """A scoped dispatcher sees only events in their street's or district's part of the tree."""
    if user.scope_grid_id is None:
        return True
    return grid is not None and any(node.id == user.scope_grid_id for node in grid.path)
