"""Hostile input the tests feed in: text a spreadsheet would run as a formula."""

INJECTED = "=cmd|' /C calc'!A0"
