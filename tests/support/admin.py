"""Logging in to the admin API and the admin pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

PASSWORD = "passw0rd!"


def login(env, username: str, password: str = PASSWORD, timeout: float = 10) -> tuple[httpx.Client, str]:
    """An API client with a session cookie, and the CSRF token its writes must carry."""
    client = httpx.Client(base_url=env.app_url, timeout=timeout)
    response = client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return client, response.json()["csrf_token"]


@contextmanager
def logged_in(env, username: str, password: str = PASSWORD) -> Iterator[tuple[httpx.Client, str]]:
    client, csrf = login(env, username, password)
    try:
        yield client, csrf
    finally:
        client.close()


def browser_login(page, env, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{env.app_url}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/events.*"))
