"""Writing cells that people open in Excel / WPS."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Spreadsheet formula injection: text starting with = + - @ (or a tab / CR) is prefixed with '."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
