"""The runtime owns its parts: components are memoised per runtime, caches can be dropped while
provided parts stay, jobs receive the runtime, and `close()` disposes everything (no server)."""

from __future__ import annotations

import threading

import fakeredis
from sqlalchemy import create_engine, text

from bot import jobs
from bot.core.runtime import Runtime
from bot.core.store import Store


def embedded() -> Store:
    return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer()), embedded=True)


class Closable:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_components_are_built_once_per_runtime_and_caches_can_be_dropped():
    one, two = Runtime(store=embedded()), Runtime(store=embedded())
    assert one.component(Closable) is one.component(Closable)
    assert one.component(Closable) is not two.component(Closable)
    provided = one.provide(dict, {"supplied": "by the app factory"})
    cached = one.component(Closable)
    one.clear_caches()
    assert one.component(dict) is provided  # provided parts stay
    assert one.component(Closable) is not cached  # built ones are rebuilt on next use


def test_jobs_receive_the_runtime_on_the_leader():
    runtime = Runtime(store=embedded())
    seen: list[Runtime] = []
    ran = threading.Event()

    def note(received: Runtime) -> None:
        seen.append(received)
        ran.set()

    runtime.jobs.every(3600, note, at_start=True)
    runtime.jobs.start()
    try:
        assert ran.wait(5)
    finally:
        runtime.close()
    assert seen == [runtime]
    assert runtime.jobs.leader is False and not runtime.jobs.running  # the lock went back at close


def test_register_puts_every_named_job_on_the_scheduler():
    runtime = Runtime(store=embedded())
    jobs.register(runtime)
    scheduled = {job.id for job in runtime.jobs.scheduler.get_jobs()}
    assert scheduled == {"outbox", "inbox", "media", "ratings", "orders", "supervision"}
    for job in (jobs.drain_outbox, jobs.download_media, jobs.expire_ratings, jobs.expire_order_offers,
                jobs.sweep_supervision):
        assert job.__module__ == "bot.jobs" and job.__name__ != "<lambda>"


def test_close_disposes_engine_store_and_components():
    engine = create_engine("sqlite://")
    store = embedded()
    runtime = Runtime(engine=engine, store=store)
    with runtime.sessions() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    part = runtime.component(Closable)
    disposed = []
    engine.dispose = lambda: disposed.append(engine)  # the engine is the runtime's to dispose of
    runtime.close()
    assert part.closed and disposed == [engine]
    assert runtime.component(Closable) is not part  # a closed runtime starts from nothing


def test_leadership_asked_from_many_job_threads_at_once_is_taken_once(caplog):
    """Every at_start job asks at start, each in its own thread: one leadership, one log line."""
    runtime = Runtime(store=embedded())
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        runtime.jobs.is_leader()

    with caplog.at_level("INFO", logger="bot.core.scheduler"):
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.getMessage() for r in caplog.records] == ["scheduler leadership taken"]
    runtime.close()
