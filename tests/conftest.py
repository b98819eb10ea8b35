"""Shared fixtures: the real service and a fake WeChat API, each served over HTTP by uvicorn.

The database and store come from the environment: SQLite + the embedded store by default,
PostgreSQL + Redis when WEILINLI_DATABASE_URL / WEILINLI_REDIS_URL are set (as .ci/run does).
The session's service and the tests share one runtime; `clean` gives each test a fresh state of it.
Helpers live in tests/support.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

import settings as settings_module
from bot.core import db, runtime
from bot.demo.fake_wechat import Recorder, create_fake_wechat_app
from bot.domain import numbering
from bot.wechat.wechat_side import WeChatSide
from tests.support.service import AES_KEY, APPID, TOKEN, Env, ServerThread, reset_database


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> Iterator[Env]:
    recorder = Recorder()
    fake = ServerThread(create_fake_wechat_app(recorder)).start()
    overrides = dict(
        data_dir=tmp_path_factory.mktemp("data"), wechat_token=TOKEN, wechat_appid=APPID, wechat_secret="s3cret",
        wechat_api_base=f"{fake.url}/cgi-bin/", outbox_interval=0.2, media_interval=0.5,
        rate_limit_per_minute=1000,
    )
    e = Env(overrides)
    e.reset_settings()
    # One runtime for the session's service and the tests' own sessions, built after the settings.
    e.runtime = runtime.Runtime()
    previous = runtime.install(e.runtime)
    from bot.core.migrate import upgrade

    if not settings_module.get_settings().effective_database_url.startswith("sqlite"):
        with e.runtime.engine.begin() as conn:  # a clean schema on a shared server database
            for table in reversed(db.Base.metadata.sorted_tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            conn.execute(text(f"DROP SEQUENCE IF EXISTS {numbering.SEQUENCE}"))
    upgrade()
    from bot.app import create_app

    app_server = ServerThread(create_app(runtime=e.runtime)).start()
    e.app_url, e.fake_url, e.recorder = app_server.url, fake.url, recorder
    yield e
    app_server.stop()
    fake.stop()
    e.runtime.close()
    runtime.install(previous)


@pytest.fixture
def clean(env: Env) -> Iterator[Env]:
    """A fresh runtime state: an empty database (then the demo grids and workers), an empty store,
    no cached grids, calendar or menu, no fake-WeChat records, and no flood on (a test that stored
    messages first leaves the webhook storing first for a second: the next test's reports would be)."""
    from bot.wechat import inbox

    env.reset_settings()
    env.runtime.component(inbox.Load).stored_at = -inbox.PRESSED  # as a new Load starts
    reset_database(env.runtime.engine)
    env.runtime.store.r.flushdb()
    env.runtime.clear_caches()
    with env.recorder.lock:
        env.recorder.records.clear()
        env.recorder.fail_left = 0
        env.recorder.delay = 0.0
    from bot.demo import sample

    with db.session_scope() as session:
        sample.load(session)
    yield env
    env.reset_settings()


@pytest.fixture
def wx(clean: Env) -> Iterator[WeChatSide]:
    side = clean.wechat()
    yield side
    side.close()


@pytest.fixture
def wx_aes(clean: Env) -> Iterator[WeChatSide]:
    clean.configure(wechat_aes_key=AES_KEY)
    side = clean.wechat(aes=True)
    yield side
    side.close()


@pytest.fixture
def http(env: Env) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env.app_url, timeout=10) as client:
        yield client
