"""What each kind of incoming message does, per role: small functions with declarative filters."""

from handlers.router import Context, Incoming, dispatch

__all__ = ["Context", "Incoming", "dispatch"]
