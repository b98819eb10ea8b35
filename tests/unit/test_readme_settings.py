"""The README's settings table names every setting of settings.py, and nothing else: operators
configure the service from that table."""

from __future__ import annotations

import re
from pathlib import Path

from settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_settings_table_lists_exactly_the_settings():
    rows = set(re.findall(r"^\| `(WEILINLI_[A-Z0-9_]+)`", README.read_text(encoding="utf-8"), re.M))
    fields = {f"WEILINLI_{name.upper()}" for name in Settings.model_fields}
    assert rows, "no settings table in README.md"
    assert sorted(fields - rows) == [], "settings missing from the README's table"
    assert sorted(rows - fields) == [], "README rows for settings that do not exist"
