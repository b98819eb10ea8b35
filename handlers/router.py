"""A small aiogram-style router: handlers are registered with filters and tried in order.

A filter is any callable taking the Context and returning a bool; the first handler whose filters
all pass answers the message. Handlers return the reply text (or None for an empty reply).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

import nlp
from bot.core.store import Store

log = logging.getLogger(__name__)

Filter = Callable[["Context"], bool]
Handler = Callable[["Context"], str | None]


@dataclass
class Incoming:
    """A WeChat message or event reduced to plain values."""

    openid: str
    msg_type: str  # text | voice | image | location | link | event | unknown
    key: str  # de-duplication key (MsgId, or sender+CreateTime+Event+EventKey)
    account: str = ""  # the official account's id (ToUserName), the reply's sender
    text: str = ""
    media_id: str | None = None
    pic_url: str | None = None
    lat: float | None = None
    lng: float | None = None
    label: str | None = None
    url: str | None = None
    event: str | None = None  # subscribe | unsubscribe | click | view | location | …
    event_key: str | None = None


class cached_property:  # noqa: N801 - a drop-in for functools.cached_property
    """functools.cached_property without its lock. On Python 3.11 that lock is one per property for
    all instances: while one thread classified a message or waited for Redis, every other handler
    thread that read `classification`, `dialog` or `role` of its own message waited too."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn, self.name, self.__doc__ = fn, fn.__name__, fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@dataclass
class Context:
    incoming: Incoming
    session: Session
    store: Store
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def openid(self) -> str:
        return self.incoming.openid

    @property
    def text(self) -> str:
        return self.incoming.text.strip()

    @property
    def first_delivery(self) -> bool:
        """No earlier delivery of this message reached the database (a fresh claim)."""
        return bool(getattr(self.store, "first_delivery", False))

    @cached_property
    def classification(self) -> nlp.Classification:
        return nlp.classify(self.text)

    @cached_property
    def dialog(self) -> dict[str, Any] | None:
        return self.store.get_dialog(self.openid)

    @cached_property
    def role(self) -> str:
        from bot.places import roles  # a per-process cache that notices bindings: no SQL per message

        return roles.role_of(self.session, self.openid)

    def enter(self, state, **data: Any) -> None:
        """Move the user's conversation into `state` (a handlers.states.State) with its data; it is
        forgotten after the state's flow timeout."""
        value = {"state": state.name, **data}
        self.store.set_dialog(self.openid, value, ttl=state.timeout)
        self.__dict__["dialog"] = value

    def finish(self) -> None:
        """The conversation is over: the next message is read on its own."""
        self.store.clear_dialog(self.openid)
        self.__dict__["dialog"] = None

    def in_state(self, state) -> bool:
        return self.dialog is not None and self.dialog.get("state") == state.name


class Router:
    """Handlers tried in the order they were registered, then the included routers in theirs.
    Router-level `filters` (a role, a dialog state) apply to every handler and included router."""

    def __init__(self, name: str, *filters: Filter):
        self.name = name
        self.filters = filters
        self.handlers: list[tuple[tuple[Filter, ...], Handler]] = []
        self.routers: list[Router] = []

    def on(self, *filters: Filter) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers.append((filters, fn))
            return fn

        return register

    def include_routers(self, *routers: Router) -> Router:
        self.routers.extend(routers)
        return self

    def resolve(self, ctx: Context) -> tuple[Router, Handler] | None:
        if not all(f(ctx) for f in self.filters):
            return None
        for filters, fn in self.handlers:
            if all(f(ctx) for f in filters):
                return self, fn
        for router in self.routers:
            found = router.resolve(ctx)
            if found is not None:
                return found
        return None

    def dispatch(self, ctx: Context) -> str | None:
        """Answer one incoming message with the first handler whose filters all pass."""
        found = self.resolve(ctx)
        if found is None:
            return None
        router, fn = found
        log.debug("%s handled by %s.%s", ctx.incoming.key, router.name, fn.__name__)
        return fn(ctx)
