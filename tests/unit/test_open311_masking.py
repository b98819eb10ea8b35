"""Open311's masking of personal data in public text (mobiles, landlines, ID cards, e-mail)."""

from __future__ import annotations

from bot.domain.privacy import mask_text as mask_private


def test_mask_private():
    assert mask_private("电话13912345678") == "电话139****5678"
    assert mask_private("+86 139 1234 5678") == "+86 139****5678"
    assert mask_private("座机 027-87654321") == "座机 027-****4321"
    assert mask_private("身份证420106199001011234") == "身份证420106********1234"
    assert mask_private("邮箱 zhang.san@example.com") == "邮箱 z***@example.com"
    assert mask_private("事件 WL20261123-0042 拨打12345") == "事件 WL20261123-0042 拨打12345"
    assert mask_private(None) == ""
