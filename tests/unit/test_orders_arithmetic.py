"""Service hours (bot/orders/orders.py) and the showcase's name masking (bot/domain/privacy.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.core.db import utcnow
from bot.domain.privacy import mask_name
from bot.orders import orders


def test_hours_rounding_and_name_masking():
    start = utcnow()
    assert orders.service_hours(start, start) == 0.5
    assert orders.service_hours(start, start + timedelta(minutes=31)) == 1.0
    assert orders.service_hours(start, start + timedelta(minutes=90)) == 1.5
    assert orders.service_hours(start, start + timedelta(hours=30)) == 8.0  # capped
    assert mask_name("周红") == "周*" and mask_name("欧阳娜娜") == "欧***"
