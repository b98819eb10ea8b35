"""Declared dialog states, like aiogram's `StatesGroup` or python-telegram-bot's `ConversationHandler`.

A flow (report follow-up, service order, rating, binding, confirmation, 转人工) is one `StatesGroup`
subclass in one file under handlers/flows/: its states are class attributes (`place = State()`),
named from the class and attribute once (`ReportFollowUp:place`), never built from strings. The
flow's `Flow` router holds the per-state handlers and fallbacks; its entry points are the handlers
that call `ctx.enter(Group.state, …)`; the group's `timeout` (seconds; None → the dialog TTL
setting) is how long a state waits for an answer before the conversation is forgotten.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar

from handlers.router import Context, Filter, Router

DONE = "好的，我们会尽快处理，处理进展会通过公众号通知您。"  # a dialog about something that is gone


class State:
    """One state of a flow; compared by its full name, which is what the store keeps."""

    def __init__(self) -> None:
        self.name = ""
        self.group: type[StatesGroup] | None = None

    def __set_name__(self, owner: type, attr: str) -> None:
        self.name, self.group = f"{owner.__name__}:{attr}", owner

    @property
    def timeout(self) -> int | None:
        return self.group.timeout if self.group is not None else None

    def __repr__(self) -> str:
        return f"<State {self.name}>"


class StatesGroup:
    """A flow's states. Subclasses list them as `State()` attributes and may set `timeout`."""

    timeout: ClassVar[int | None] = None
    states: ClassVar[tuple[State, ...]] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.states = tuple(v for v in vars(cls).values() if isinstance(v, State))

    @classmethod
    def by_name(cls, name: str | None) -> State | None:
        return next((s for s in cls.states if s.name == name), None)


def in_state(*states: State) -> Filter:
    """The user's pending dialog is in one of `states`."""
    names = {s.name for s in states}
    return lambda ctx: ctx.dialog is not None and ctx.dialog.get("state") in names


class Flow(Router):
    """The router of one flow: per-state handlers (`at`) first, then the fallbacks (`fallback`),
    each only while the user is in one of the group's states."""

    def __init__(self, group: type[StatesGroup], *filters: Filter):
        super().__init__(group.__name__, *filters)
        self.group = group
        self.fallbacks = Router(f"{group.__name__}.fallbacks", in_state(*group.states))
        self.include_routers(self.fallbacks)

    def at(self, states: State | tuple[State, ...], *filters: Filter):
        """A handler for the user's answer while in `states` (one State or a tuple), with more filters."""
        states = states if isinstance(states, tuple) else (states,)
        return self.on(in_state(*states), *filters)

    def fallback(self, *filters: Filter):
        """A handler for anything in any of the group's states that no state handler took."""
        return self.fallbacks.on(*filters)


def about(load: Callable[[Context], object | None]):
    """A dialog handler about the thing the pending question concerns (an event, an order): `load`
    finds it and it is passed in; when it is gone (cancelled, merged, taken) the dialog just ends."""

    def wrap(handler: Callable[[Context, object], str]):
        @functools.wraps(handler)
        def run(ctx: Context) -> str:
            thing = load(ctx)
            return DONE if thing is None else handler(ctx, thing)

        return run

    return wrap

