"""Whose a task is: a grid worker's event, a volunteer's service order. Chat commands name one by
its number or mean the person's most recent one; both nouns pick it the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class NotYours(PermissionError):
    """The numbered thing is not this person's (or does not exist: the same answer), or they have none."""


def numbered_or_latest(number: str | None, find: Callable[[str], T | None], mine: Callable[[T], bool],
                       latest: Callable[[], Sequence[T]]) -> T:
    """The numbered one if it is the person's; with no number, their most recent one."""
    if number:
        found = find(number)
        if found is None or not mine(found):
            raise NotYours(number)
        return found
    recent = latest()
    if not recent:
        raise NotYours("")
    return recent[0]
