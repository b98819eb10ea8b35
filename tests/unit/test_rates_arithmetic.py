"""The composite score and the spreadsheet formula guard of the monthly rates (考核)."""

from __future__ import annotations

import pytest

from bot.core.spreadsheet import safe_cell as safe
from bot.reports import rates
from tests.support.hostile import INJECTED


def test_composite_reweights_missing_rates():
    assert rates.composite({"response_rate": 100.0, "completion_rate": 0.0, "satisfaction_rate": None}) == (20.0,
                                                                                                           False)
    assert rates.composite({"response_rate": None, "completion_rate": None, "satisfaction_rate": None}) == (None,
                                                                                                           False)
    assert rates.composite({"response_rate": 50.0, "completion_rate": 50.0, "satisfaction_rate": 50.0}) == (50.0,
                                                                                                           True)
    with pytest.raises(rates.RatesError):
        rates.month_range("2026-00")


def test_formula_guard():
    assert safe(INJECTED) == "'" + INJECTED
    for text in ("+1", "-1", "@x", "\tx", "=1+1"):
        assert safe(text).startswith("'")
    assert safe("幸福小区") == "幸福小区" and safe(5) == 5 and safe(None) is None
