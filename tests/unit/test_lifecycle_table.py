"""The event transition table (bot/domain/lifecycle.py), read without a database."""

from __future__ import annotations

from bot.domain.lifecycle import TRANSITIONS
from bot.domain.models import Event


def test_side_exits_only_from_open_states():
    for (state, action), target in TRANSITIONS.items():
        if action in ("cancel", "reject", "merge"):
            assert state in Event.OPEN_STATES and target in ("cancelled", "rejected", "merged")
    finals = {"cancelled", "rejected", "merged"}
    assert not any(state in finals for state, _ in TRANSITIONS)
