"""The WeChat side of a conversation: event numbers in replies, pushes a user received, binding a
worker, and the event a number names."""

from __future__ import annotations

import re
import time

from sqlalchemy import select

from bot.core import db
from bot.domain.models import Event
from bot.events.casework import issue_bind_code

NUMBER = re.compile(r"WL\d{8}-\d{4}")  # an event or order number, e.g. WL20261123-0042


def number_in(text: str) -> str:
    found = NUMBER.search(text)
    assert found, text
    return found.group(0)


def event(number: str) -> Event:
    with db.session_factory()() as session:
        return session.scalar(select(Event).where(Event.number == number))


def bind(wx, openid: str, phone: str) -> str:
    with db.session_scope() as session:
        code = issue_bind_code(session, phone)
    return wx.text(openid, f"绑定 {code}").text


def texts(env, openid: str) -> list[str]:
    return [r["body"]["text"]["content"] for r in env.pushes(openid, "custom")]


def wait_text(env, openid: str, needle: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for text in texts(env, openid):
            if needle in text:
                return text
        time.sleep(0.05)
    raise AssertionError(f"no push to {openid} containing {needle!r}: {texts(env, openid)}")
