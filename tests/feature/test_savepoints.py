"""A savepoint that opens a transaction, reads, and then writes while another connection commits.

On SQLite a bare SAVEPOINT begins the transaction as a reader; its first write must upgrade, and
if any other connection committed since the read the upgrade fails at once with "database is
locked" (SQLITE_BUSY_SNAPSHOT: the busy timeout does not apply). The grid import ran into it
while the outbox committed a push."""

from __future__ import annotations

import threading

from sqlalchemy import select, update

from bot.core import db
from bot.domain.models import Grid, Worker


def test_a_savepoint_that_reads_then_writes_survives_a_commit_by_another_connection(clean):
    other_done, errors = threading.Event(), []

    def commit_elsewhere() -> None:
        try:
            with db.session_scope() as other:
                other.execute(update(Worker).where(Worker.phone == "13800000001").values(name="王芳芳"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        other_done.set()

    session = db.session_factory()()
    try:
        with session.begin_nested():
            grid = session.scalar(select(Grid).where(Grid.name == "东亭一网格"))
            writer = threading.Thread(target=commit_elsewhere)
            writer.start()
            other_done.wait(1.0)  # on SQLite the other writer now waits for this transaction
            grid.aliases = "东亭新村"
            session.flush()
        session.commit()
    finally:
        session.close()
    writer.join(30)
    assert errors == []
    with db.session_scope() as check:
        assert check.scalar(select(Grid.aliases).where(Grid.name == "东亭一网格")) == "东亭新村"
        assert check.scalar(select(Worker.name).where(Worker.phone == "13800000001")) == "王芳芳"


def test_a_savepoint_inside_a_transaction_still_rolls_back_alone(clean):
    with db.session_scope() as session:
        grid = session.scalar(select(Grid).where(Grid.name == "东亭一网格"))
        grid.aliases = "东亭新村"
        session.flush()
        try:
            with session.begin_nested():
                session.execute(update(Grid).where(Grid.name == "东亭一网格").values(aliases="错的"))
                raise RuntimeError("undo the savepoint only")
        except RuntimeError:
            pass
    with db.session_scope() as check:
        assert check.scalar(select(Grid.aliases).where(Grid.name == "东亭一网格")) == "东亭新村"
