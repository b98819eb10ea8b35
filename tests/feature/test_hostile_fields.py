"""SQL and HTML in every free-text field of the loop: stored verbatim, executed nowhere, shown as text.

The resident's report, 补充, the worker's 进展 / 办结, the dispatcher's message and 结案 note and the
resident's 不满意 reason all carry the same hostile string; the admin page must escape it, the API
must return it unchanged, and no table may lose a row.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from admin.auth import add_user
from bot.core import db
from bot.domain.models import Event, Resident, TimelineEntry, Worker
from tests.support.admin import login
from tests.support.chat import NUMBER

NASTY = "'); DROP TABLE event; -- <script>window.__x=1</script><img src=x onerror=alert(1)> 🚧\u202e"
WORKER = "o-demo-worker-3"  # 王芳, bound to 幸福家园网格 by the demo data


def test_hostile_text_in_every_free_text_field(wx, clean):
    with db.session_scope() as session:
        add_user(session, "dispatcher-h", "passw0rd!", "dispatcher")
    clean.open_window(WORKER)
    number = NUMBER.search(wx.text("o-hostile", f"幸福小区3栋楼道灯坏了 {NASTY}").text).group(0)
    assert number in wx.text("o-hostile", f"补充 {number} {NASTY}").text
    assert "已接单" in wx.text(WORKER, f"接单 {number}").text
    assert number in wx.text(WORKER, f"进展 {number} {NASTY}").text
    assert "已办结" in wx.text(WORKER, f"办结 {number} {NASTY}").text

    client, csrf = login(clean, "dispatcher-h")
    headers = {"X-CSRF-Token": csrf}
    assert client.post(f"/api/events/{number}/message", headers=headers, json={"text": NASTY}).status_code == 200
    assert client.post(f"/api/events/{number}/close", headers=headers, json={"note": NASTY}).status_code == 200
    assert number in wx.text("o-hostile", f"不满意 {NASTY}").text  # 重办: back to the same worker

    with db.session_factory()() as session:
        notes = session.scalars(select(TimelineEntry.note)).all()
        assert sum(NASTY in note for note in notes) >= 6, notes  # report, 补充, 进展, 办结, 结案, 不满意
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        assert session.scalar(select(func.count()).select_from(Worker)) > 0
        assert session.scalar(select(func.count()).select_from(Resident)) >= 2

        assert session.scalar(select(Event.status)) == "assigned"  # reopened by the 不满意

    detail = client.get(f"/api/events/{number}")
    assert detail.status_code == 200 and NASTY in json.dumps(detail.json(), ensure_ascii=False)
    page = client.get(f"/admin/events/{number}")
    assert page.status_code == 200
    assert "<script>window.__x=1</script>" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;window.__x=1&lt;/script&gt;" in page.text
