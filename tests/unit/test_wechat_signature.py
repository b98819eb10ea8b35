"""WeChat's message signature helper."""

from __future__ import annotations

from bot.wechat.protocol import sign
from tests.support.service import TOKEN


def test_signature_helper_matches_wechat_definition():
    assert sign(TOKEN, "1", "2") == sign("2", TOKEN, "1")
