"""Debian's chromium driven by Playwright (never `playwright install`), and screenshots to look at."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).parents[1] / "screenshots"  # tests/screenshots, ignored by git


def require_chromium():
    """Playwright's sync API; a missing browser fails the test, it never hides it."""
    from playwright import sync_api  # the test extra installs it

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/install-test-deps (the README's test command does)")
    return sync_api


def shot(page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
