"""The admin tests' world: users of every role, a second street with its own dispatcher, and events
made through chat (a stairway light with a phone and a photo, a resident's <script>, a formula)."""

from __future__ import annotations

import base64

from sqlalchemy import select

from admin.auth import add_user
from bot.core import db
from bot.domain.models import Attachment, Event, Grid, Worker
from bot.events import intake
from bot.wechat.media import media_dir
from tests.support.admin import PASSWORD
from tests.support.chat import NUMBER

RESIDENT, EVIL, OTHER_RESIDENT = "o-admin-resident", "o-admin-evil", "o-admin-other"
WANG_FANG, ZHANG_MIN = "o-demo-worker-3", "o-demo-worker-1"  # demo workers, pre-bound
SCRIPT_TEXT = "东亭小区门口垃圾没人清运<script>window.__xss=1;alert('xss')</script><img src=x onerror=alert(2)>"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
FORMULA_TEXT = "=HYPERLINK(\"http://evil.example\",\"点我\") 翠柳小区路灯不亮，联系13912345678"


def build_site(wx, clean):
    """Users of every role, a second street with its own dispatcher, and events made through chat."""
    with db.session_scope() as session:
        add_user(session, "admin1", PASSWORD, "admin")
        add_user(session, "disp1", PASSWORD, "dispatcher")
        add_user(session, "viewer1", PASSWORD, "viewer")
        street = session.scalar(select(Grid).where(Grid.name == "水果湖街道"))
        add_user(session, "shuiguohu", PASSWORD, "dispatcher", street)
        other = Grid(name="中南路街道", level="street", parent_id=street.parent_id)
        session.add(other)
        session.flush()
        community = Grid(name="丁字桥社区", level="community", parent=other)
        grid = Grid(name="丁字桥一网格", level="grid", parent=community, aliases="丁字桥小区")
        session.add_all([community, grid])
        session.flush()
        session.add(Worker(name="孙丽", phone="13800000099", role="grid_worker", grid=grid))
        add_user(session, "zhongnan", PASSWORD, "dispatcher", other)
        other_event = intake.report(session, intake.Report(openid=OTHER_RESIDENT, text="丁字桥小区路面塌陷一个大坑"),
                                    grid_hint=grid).event
        other_number = other_event.number
    for openid in (RESIDENT, EVIL, WANG_FANG, ZHANG_MIN):
        wx.text(openid, "你好")  # open the 48-hour windows
    light = NUMBER.search(wx.text(RESIDENT, "幸福小区3栋楼道灯坏了，晚上黑漆漆的，电话13987654321").text).group(0)
    evil = NUMBER.search(wx.text(EVIL, SCRIPT_TEXT).text).group(0)
    formula = NUMBER.search(wx.text(RESIDENT, FORMULA_TEXT).text).group(0)
    with db.session_scope() as session:  # a resident's photo, as the media job stores it
        found = session.scalar(select(Event).where(Event.number == light))
        path = media_dir() / str(found.id) / "1.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(PNG))
        photo = Attachment(event=found, kind="image", media_id="m-1", local_path=str(path))
        session.add(photo)
        session.flush()
        clean.photo_id = photo.id
    clean.numbers = {"light": light, "evil": evil, "formula": formula, "other": other_number}
    return clean
