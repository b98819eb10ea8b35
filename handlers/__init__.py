"""What each kind of incoming message does, per role: small functions with declarative filters."""

from handlers.dispatcher import dispatch
from handlers.router import Context, Incoming

__all__ = ["Context", "Incoming", "dispatch"]
