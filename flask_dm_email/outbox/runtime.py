"""One app's outbox at run time: its database, its store, built once at ``init_app``.

Nothing connects at ``init_app``: the engine is made on first use, so an app starts
even while its database is briefly unreachable, and the ``sqlalchemy`` mode can wait for
Flask-SQLAlchemy's own ``init_app``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import Engine, RowMapping

from .. import forksafe
from ..api_keys import service_id
from ..config import Settings
from ..errors import EmailConfigError
from ..outbox_settings import EMBEDDED_DEVELOPMENT, MEMORY, SQLALCHEMY_MODE, OutboxSettings, redact_url
from . import states
from .database import Database, make_engine
from .listen import Notifier, channel_name, current_schema
from .store import Store

logger = logging.getLogger("flask_dm_email.outbox")

#: The service id rows carry when there is no Notify key (the log backend).
LOCAL_SERVICE = "local"


class OutboxRuntime:
    """The outbox of one app."""

    def __init__(self, settings: OutboxSettings, database: Database, service: str, *, auto_create: bool) -> None:
        self.settings = settings
        self.database = database
        self._store = Store(database, service)
        self._auto_create = auto_create
        self._created = False
        self._lock = forksafe.Lock()
        #: Set when an email is queued, so a waiting embedded worker looks at once.
        self.queued = threading.Event()
        #: Called with a row's id once it is committed and waiting (e.g. the Celery
        #: adapter's task sender); never for a rolled-back row.
        self.listeners: list[Callable[[str], None]] = []
        self._notifier = Notifier(database.description, self.channel)
        self._channels: dict[int, str] = {}

    def channel(self, engine: Engine) -> str:
        """The PostgreSQL channel this outbox's workers LISTEN on: one per schema and
        Notify service (see :mod:`~flask_dm_email.outbox.listen`)."""
        key = id(engine)
        if key not in self._channels:
            self._channels[key] = channel_name(current_schema(engine), self._store.service_id)
        return self._channels[key]

    def wake(self, row_id: str | None = None) -> None:
        """Wake waiting workers, after a commit that made rows due: this process's at
        once, other processes' on PostgreSQL by a NOTIFY (sent from a thread, coalesced).
        With ``row_id`` (a committed row now waiting), tell the listeners too. A listener
        that fails (a broker down) loses nothing: the row is in the database, so it is
        logged and the next sweep or poll finds the row."""
        self.queued.set()
        try:
            if self.database.dialect == "postgresql":
                self._notifier.notify(self.database.engine)
        except Exception as error:  # e.g. no app context for the sqlalchemy mode's engine
            logger.debug("No NOTIFY for the outbox's workers (%s); they poll.", type(error).__name__)
        if row_id is None:
            return
        for listener in list(self.listeners):
            try:
                listener(row_id)
            except Exception as error:
                name = getattr(listener, "__name__", type(listener).__name__)
                logger.warning("Could not pass email %s to %s (%s); it waits in the outbox for the next sweep.",
                               row_id, name, type(error).__name__)

    @property
    def store(self) -> Store:
        """The store; on development and test the tables are created on first use."""
        if self._auto_create and not self._created:
            with self._lock:
                if not self._created:
                    self._store.create_tables()
                    self._created = True
        return self._store

    def give_back(self, rows: Iterable[RowMapping]) -> None:
        """Return claimed rows unsent (a worker stopping before it posted them)."""
        for row in rows:
            status = states.QUEUED if row["attempts"] == 0 else states.RETRYING
            self.store.finish(row["id"], row["claim_token"], status, kind="given-back", delay=0.0)
        self.wake()  # other processes' workers take them at once


def _lazy(make: Callable[[], Engine]) -> Callable[[], Engine]:
    engine: list[Engine] = []
    lock = forksafe.Lock()

    def get() -> Engine:
        if not engine:
            with lock:
                if not engine:
                    engine.append(make())
        return engine[0]

    return get


def _app_engine() -> Engine:
    extension = current_app.extensions.get("sqlalchemy")
    if extension is None:
        raise EmailConfigError(
            [
                (
                    "DM_EMAIL_OUTBOX_URL",
                    "is 'sqlalchemy', but Flask-SQLAlchemy is not registered on this app. Call "
                    "db.init_app(app), or set DM_EMAIL_OUTBOX_URL to a database URL.",
                )
            ]
        )
    engine: Engine = extension.engine
    return engine


def build_runtime(app: Flask, settings: Settings) -> OutboxRuntime | None:
    """The app's outbox, or None when the stage has none configured."""
    outbox = settings.outbox
    location = outbox.location
    if location is None:
        return None
    service = service_id(settings.notify_key) if settings.notify_key else LOCAL_SERVICE
    if location == MEMORY:
        database = Database(_lazy(lambda: make_engine("sqlite://")), "in-memory SQLite (test stage)",
                            shared_app_engine=False)
        return OutboxRuntime(outbox, database, service, auto_create=True)
    if location == EMBEDDED_DEVELOPMENT:
        path = Path(app.instance_path) / "dm_email.sqlite3"

        def make() -> Engine:
            os.makedirs(path.parent, exist_ok=True)
            return make_engine(f"sqlite:///{path}")

        return OutboxRuntime(outbox, Database(_lazy(make), f"SQLite at {path}", shared_app_engine=False), service,
                             auto_create=True)
    if location == SQLALCHEMY_MODE:
        database = Database(_app_engine, "the app's Flask-SQLAlchemy database", shared_app_engine=True)
        return OutboxRuntime(outbox, database, service, auto_create=False)
    database = Database(_lazy(lambda: make_engine(location)), redact_url(location), shared_app_engine=False)
    return OutboxRuntime(outbox, database, service, auto_create=False)
