"""Fixtures of the admin tests: the seeded site, and a real browser (Debian's chromium via Playwright)."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from tests.support.admin_site import build_site
from tests.support.browser import CHROMIUM, FLAGS, require_chromium


@pytest.fixture
def site(wx, clean):
    return build_site(wx, clean)


@pytest.fixture(scope="module")
def browser_context():
    sync_api = require_chromium()
    profile = tempfile.mkdtemp(prefix="wl-chromium-")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1366, "height": 768},
            locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(browser_context):
    browser_context.clear_cookies()
    page = browser_context.new_page()
    page.set_default_timeout(15000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.dialogs = dialogs
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    yield page
    page.close()
