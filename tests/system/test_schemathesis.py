"""Property-based fuzzing of the /api and /open311 OpenAPI (bounded examples): never a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from admin.auth import add_user
from bot.core import db

MAX_EXAMPLES = 12


@pytest.fixture
def api_schema(env):
    return schemathesis.openapi.from_url(f"{env.app_url}/openapi.json").include(path_regex="^/(api|open311)/")


@pytest.fixture
def dispatcher(clean):
    with db.session_scope() as session:
        add_user(session, "fuzzer", "passw0rd!", "dispatcher")
    response = httpx.post(f"{clean.app_url}/api/login", json={"username": "fuzzer", "password": "passw0rd!"})
    return dict(response.cookies), response.json()["csrf_token"]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_anonymous(case, clean):
    response = case.call(timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_logged_in(case, dispatcher):
    cookies, csrf = dispatcher
    response = case.call(cookies=cookies, headers={"X-CSRF-Token": csrf}, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
