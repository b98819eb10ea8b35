"""The safety advice an urgent report is answered with (handlers.texts.urgent_guide): the advice
for what happened, not for a character the text happens to contain."""

from __future__ import annotations

import pytest

from bot.events.urgent import Alerted
from handlers.texts import urgent_guide

WHO = Alerted(["网格员张敏"], "027-87654321")
LIFT = "不要强行扒门"
ELECTRIC = "掉落电线或漏电处"


@pytest.mark.parametrize("text", ["东亭小区2栋电梯坏了，困住一个老人，快来人", "有人被困在电梯里",
                                  "电梯停了 里面有人在拍门", "幸福小区电梯困人了一直没人管"])
def test_someone_stuck_in_a_lift_gets_the_lift_advice_not_the_electric_one(text):
    guide = urgent_guide(text, WHO)
    assert LIFT in guide and ELECTRIC not in guide, guide


@pytest.mark.parametrize("text", ["楼下电线掉下来了还冒火花", "有人触电了", "配电箱漏电了，很危险"])
def test_electric_dangers_still_get_the_electric_advice(text):
    assert ELECTRIC in urgent_guide(text, WHO)
