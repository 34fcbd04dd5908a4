"""Where the outbox lives, and how to talk to it safely on SQLite and PostgreSQL.

* The database's own clock (:meth:`Database.now`) decides what is due and when a lease
  ends, never a machine's clock.
* Every SQLite write transaction begins ``IMMEDIATE`` with a busy timeout: a deferred
  transaction that reads first and writes later fails at once with "database is locked"
  when another process writes.
* An in-memory SQLite database (the test stage) is one connection shared by the app's
  threads, so its transactions take turns behind a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Float, cast, create_engine, event, func, literal_column
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

_BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "dm_email_read_only"


def _sqlite_engine(url: str) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000},
        poolclass=StaticPool if memory else None,
        hide_parameters=True,  # a database error's message must not quote an address
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours to say (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        reading = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings above."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)  # errors never quote an address


class Database:
    """One outbox database.

    :param get_engine: returns the engine; called per transaction, so the ``sqlalchemy``
        mode can fetch the app's Flask-SQLAlchemy engine lazily (inside an app context).
    :param description: where it is, for ``flask dm-email config`` (no password).
    """

    def __init__(self, get_engine: Callable[[], Engine], description: str, *, shared_app_engine: bool) -> None:
        self._get_engine = get_engine
        self.description = description
        self.shared_app_engine = shared_app_engine
        self._lock: threading.RLock | None = None
        self._dialect: str | None = None

    @property
    def engine(self) -> Engine:
        engine = self._get_engine()
        if self._dialect is None:
            self._dialect = engine.dialect.name
            if isinstance(engine.pool, StaticPool):
                self._lock = threading.RLock()
        return engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql`` (or another SQLAlchemy dialect name)."""
        if self._dialect is None:
            _ = self.engine
        assert self._dialect is not None
        return self._dialect

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        engine = self.engine
        if self._lock is None:
            with engine.begin() as connection:
                yield connection
            return
        with self._lock, engine.begin() as connection:
            yield connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read-only connection (on SQLite its transaction is deferred: it takes no
        write lock)."""
        engine = self.engine
        if self._lock is None:
            with engine.connect() as connection:
                yield connection.execution_options(**{_READ_ONLY: True})
            return
        with self._lock, engine.connect() as connection:
            yield connection.execution_options(**{_READ_ONLY: True})

    def now(self) -> ColumnElement[float]:
        """The database's clock, in seconds since the epoch (UTC)."""
        if self.dialect == "sqlite":
            return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)
        clock = func.clock_timestamp() if self.dialect == "postgresql" else func.now()
        return cast(func.extract("epoch", clock), Float)
