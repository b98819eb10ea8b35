"""The runtime: what one service process holds while it runs, owned in one place.

A `Runtime` owns the database engine and its session factory, the shared store (Redis or the
embedded one), the job scheduler, and a slot per component that upper layers keep for the
process (the grid index, the working-day calendar, the service menu, the WeChat client). Core may
not import those layers, so a component is named by its factory: `runtime.component(GridCache)`
builds one on first use and returns the same one afterwards; `runtime.provide(Client, client)`
puts in one built elsewhere (the app factory supplies the WeChat client that way).

The app factory builds the runtime and installs it at start-up as the process's current one; the
accessors `session_scope()`, `session_factory()`, `get_engine()`, `get_store()` read the current
runtime, so call sites need not carry it. A command line tool that never builds an app gets a
default runtime on first use. `close()` shuts the scheduler down and disposes everything the
runtime owns. Tests share one runtime with the service they run and give each test a fresh state
of it (`clear_caches()`, an emptied store and database) instead of resetting module globals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bot.core.scheduler import Scheduler

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from bot.core.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    def __init__(self, *, engine: Engine | None = None, store: Store | None = None) -> None:
        """Parts not given are built from the settings on first use; parts given are still owned
        (disposed by `close()`)."""
        self._lock = threading.RLock()
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        if engine is not None:
            self._adopt(engine)
        self._store: Store | None = store
        self._components: dict[Callable[[], Any], Any] = {}
        self._provided: set[Callable[[], Any]] = set()
        self.jobs = Scheduler(self)

    # Engine and store are built on first use, from the settings active then: a test or the CLI
    # configures settings first, and a process that never touches the database opens no pool.
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from bot.core.db import build_engine

                    self._adopt(build_engine())
        assert self._engine is not None
        return self._engine

    def _adopt(self, engine: Engine) -> None:
        from sqlalchemy.orm import sessionmaker

        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._engine = engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self.engine  # noqa: B018 - builds the engine and its session factory
        assert self._sessions is not None
        return self._sessions

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from bot.core.store import build_store

                    self._store = build_store()
        return self._store

    def component(self, factory: Callable[[], T]) -> T:
        """This runtime's instance of `factory`'s product, built on first use."""
        try:
            return self._components[factory]
        except KeyError:
            pass
        with self._lock:
            if factory not in self._components:
                self._components[factory] = factory()
            return self._components[factory]

    def provide(self, factory: Callable[[], T], instance: T) -> T:
        """Use `instance` as this runtime's `component(factory)`; kept by `clear_caches()`."""
        with self._lock:
            self._components[factory] = instance
            self._provided.add(factory)
        return instance

    def clear_caches(self) -> None:
        """Forget every component built on demand (caches are rebuilt on next use); keep provided ones."""
        with self._lock:
            for factory in [f for f in self._components if f not in self._provided]:
                del self._components[factory]

    def close(self) -> None:
        """Stop the jobs and dispose of the engine, the store connection and every component."""
        self.jobs.shutdown()
        with self._lock:
            components, self._components, self._provided = list(self._components.values()), {}, set()
            for component in components:
                close = getattr(component, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:
                        log.exception("runtime: closing %r failed", component)
            if self._engine is not None:
                self._engine.dispose()
            if self._store is not None:
                self._store.close()
            self._engine = self._sessions = self._store = None


_current: Runtime | None = None
_current_lock = threading.Lock()


def current() -> Runtime:
    """The process's runtime: the one the app factory installed, else a default built on first use."""
    global _current
    runtime = _current
    if runtime is None:
        with _current_lock:
            if _current is None:
                _current = Runtime()
            runtime = _current
    return runtime


def install(runtime: Runtime | None) -> Runtime | None:
    """Make `runtime` the process's current one (what the accessors read); returns the one it replaces."""
    global _current
    with _current_lock:
        previous, _current = _current, runtime
    return previous
