"""Issue 18: who writes (grid worker, volunteer, resident) comes from a per-process cache instead of
a query per message, and the cache follows bindings here at once and other processes' changes
through the shared revision token."""

from __future__ import annotations

from sqlalchemy import event as sa_event
from sqlalchemy import select, update

from bot.core import db
from bot.core.store import get_store
from bot.domain.models import Worker
from bot.places import roles
from tests.support.chat import bind

WORKER = "o-demo-worker-1"


def role_of(openid: str) -> str:
    with db.session_factory()() as session:
        return roles.role_of(session, openid)


def worker_role_queries(statements: list[str]) -> list[str]:
    """The role lookup itself (a worker's own commands still load their Worker row)."""
    return [s for s in statements if s.split()[:4] == ["SELECT", "worker.role", "FROM", "worker"]]


def test_a_message_asks_no_query_for_the_role(wx, clean):
    wx.text(WORKER, "我的任务")  # builds the cache
    seen: list[str] = []

    def record(conn, cursor, statement, *rest):
        seen.append(statement)

    sa_event.listen(db.get_engine(), "before_cursor_execute", record)
    try:
        answer = wx.text(WORKER, "我的任务")
        resident = wx.text("o-role-resident", "我的事件")
    finally:
        sa_event.remove(db.get_engine(), "before_cursor_execute", record)
    assert "任务" in answer.text and "您还没有反映过事件" not in answer.text  # answered as a worker
    assert "您还没有反映过事件" in resident.text  # and a resident as a resident
    assert worker_role_queries(seen) == [], worker_role_queries(seen)


def test_binding_makes_a_resident_a_worker_at_once(wx, clean):
    with db.session_scope() as session:
        grid_id = session.scalar(select(Worker.grid_id).where(Worker.openid == WORKER))
        session.add(Worker(name="新网格员", phone="13900001818", role="grid_worker", grid_id=grid_id))
    openid = "o-role-new-worker"
    assert "您还没有反映过事件" in wx.text(openid, "我的事件").text  # a resident, and cached as one
    assert "绑定成功" in bind(wx, openid, "13900001818")
    assert role_of(openid) == "grid_worker"
    assert "您目前没有待处置的任务" in wx.text(openid, "我的任务").text


def test_another_process_change_is_seen_through_the_token(wx, clean):
    wx.text(WORKER, "我的任务")
    with db.session_scope() as session:  # as another process would: this process's listeners do not see it
        session.execute(update(Worker).where(Worker.openid == WORKER).values(openid=None))
    assert role_of(WORKER) == "grid_worker"  # not told yet: cached
    get_store().r.set(roles.TOKEN_KEY, "changed elsewhere")
    assert role_of(WORKER) == "resident"
    assert "您还没有反映过事件" in wx.text(WORKER, "我的事件").text


def test_reports_route_from_the_cache_and_follow_a_worker_leaving(wx, clean):
    wx.text("o-route-warm", "幸福小区5栋门口垃圾没人清理")
    seen: list[str] = []

    def record(conn, cursor, statement, *rest):
        seen.append(statement)

    sa_event.listen(db.get_engine(), "before_cursor_execute", record)
    try:
        first = wx.text("o-route-1", "幸福小区3栋楼道灯坏了")
    finally:
        sa_event.remove(db.get_engine(), "before_cursor_execute", record)
    assert "网格员王芳" in first.text
    assert [s for s in seen if "FROM worker" in s] == []  # neither the role nor the grid's worker asked
    with db.session_scope() as session:  # the admin page switches her off (an ORM change)
        session.scalar(select(Worker).where(Worker.name == "王芳")).active = False
    second = wx.text("o-route-2", "幸福小区4栋楼道灯坏了")
    assert "王芳" not in second.text, second.text
