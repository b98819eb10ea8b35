"""The race between a handler and its reply budget (bot.wechat.inbox.Ticket): exactly one of them
answers — the handler commits, or the webhook stores the message first — never both."""

from __future__ import annotations

import threading
import time

from bot.wechat.inbox import Ticket


def test_taken_before_the_handler_started_the_handler_does_nothing():
    ticket = Ticket(3.0)
    assert ticket.take() == Ticket.QUEUED  # the webhook must claim the message itself
    assert not ticket.start()
    assert not ticket.commit()


def test_taken_while_running_the_handler_may_not_commit():
    ticket = Ticket(3.0)
    assert ticket.start()
    assert ticket.take() == Ticket.RUNNING  # the handler holds the claim already
    assert not ticket.commit()


def test_a_handler_committing_keeps_its_answer():
    ticket = Ticket(3.0)
    assert ticket.start() and ticket.commit()
    assert ticket.take() is None  # its answer is a moment away: wait for it


def _race(ticket: Ticket) -> dict[str, bool]:
    barrier, results = threading.Barrier(2), {}

    def commit():
        barrier.wait()
        results["commit"] = ticket.commit()

    def take():
        barrier.wait()
        results["take"] = ticket.take() is not None

    threads = [threading.Thread(target=commit), threading.Thread(target=take)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_only_one_side_wins_when_both_move_at_once():
    for _ in range(200):
        ticket = Ticket(3.0)
        ticket.start()
        results = _race(ticket)
        assert results["commit"] != results["take"], results


def test_behind_after_a_third_of_the_budget_and_remaining_counts_down():
    ticket = Ticket(0.3, arrived=time.monotonic() - 0.11)
    assert ticket.behind()
    assert 0.15 < ticket.remaining() < 0.2
    assert not Ticket(0.3).behind()
    unbounded = Ticket(None)
    assert not unbounded.behind() and unbounded.remaining() is None
