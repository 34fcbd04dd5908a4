"""Waking workers in other processes at once: PostgreSQL's LISTEN/NOTIFY.

* Every commit that makes rows due ends in :meth:`OutboxRuntime.wake
  <flask_dm_email.outbox.runtime.OutboxRuntime.wake>`, after the commit, so a rollback
  never wakes anybody. On PostgreSQL it hands the wake to a :class:`Notifier`, whose
  thread sends one ``pg_notify`` per burst (a bulk chunk of a thousand rows is one
  NOTIFY, and a request never waits for it).
* A worker (``flask dm-email worker``) keeps one :class:`Listener` connection LISTENing
  and sets its wake event on every notification. If the connection drops, it says so
  once, the worker polls as before, and the listener reconnects with backoff.
* The channel is per outbox (the tables' schema and the Notify service), so outboxes
  sharing a database never wake each other's workers. Polling stays the safety net:
  a lost notification costs one poll interval, never an email.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from .. import forksafe

logger = logging.getLogger("flask_dm_email.outbox")

#: First and longest wait before reconnecting a dropped LISTEN connection (seconds).
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
#: How often the listener looks whether it should stop (seconds).
CHECK_EVERY = 1.0
#: How often the idle LISTEN connection is checked with a ``SELECT 1`` (seconds).
PING_EVERY = 30.0
#: The longest a process waits at exit to send a last pending NOTIFY (seconds).
FLUSH_TIMEOUT = 2.0

_NOTIFY = text("SELECT pg_notify(:channel, '')")


def channel_name(schema: str, service: str) -> str:
    """The outbox's channel: ``dm_email_`` and a digest of the schema and the service id,
    so it is a plain identifier under PostgreSQL's 63 bytes whatever they hold."""
    digest = hashlib.sha256(f"{schema}\0{service}".encode()).hexdigest()[:32]
    return f"dm_email_{digest}"


def current_schema(engine: Engine) -> str:
    """The schema the outbox's tables are found in (the first on the search path)."""
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())


class Notifier:
    """Sends ``NOTIFY channel`` from a thread of its own; wakes that come while one is
    being sent are coalesced into the next."""

    def __init__(self, where: str, channel_of: Callable[[Engine], str]) -> None:
        self.where = where
        self.channel_of = channel_of
        self._pending = threading.Event()
        self._lock = forksafe.Lock()
        self._engine: Engine | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._failing = False
        self._at_exit = False

    def notify(self, engine: Engine) -> None:
        """NOTIFY soon, from the notifier's thread (started on first use, and again in a
        forked child)."""
        self._engine = engine
        self._pending.set()
        thread = self._thread
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            with self._lock:
                if self._thread is thread:  # nobody started one meanwhile
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._run, name="dm-email-notify", daemon=True)
                    self._thread.start()
                    if not self._at_exit:
                        self._at_exit = True
                        atexit.register(self.flush)

    def flush(self, timeout: float = FLUSH_TIMEOUT) -> None:
        """Send a NOTIFY still pending (at exit: a script that queues and ends at once),
        waiting at most ``timeout`` seconds: a database that does not answer must not keep
        the process from ending (a lost NOTIFY costs a worker one poll interval)."""
        if self._pending.is_set():
            self._pending.clear()
            sender = threading.Thread(target=self._send, name="dm-email-notify-flush", daemon=True)
            sender.start()
            sender.join(timeout)

    def _run(self) -> None:
        while True:
            self._pending.wait()
            self._pending.clear()
            self._send()

    def _send(self) -> None:
        engine = self._engine
        if engine is None:
            return
        try:
            channel = self.channel_of(engine)
            with engine.begin() as conn:
                conn.execute(_NOTIFY, {"channel": channel})
        except Exception as error:
            if not self._failing:
                self._failing = True
                logger.warning("Could not NOTIFY the outbox's workers in %s (%s); they find new emails at their "
                               "next poll.", self.where, type(error).__name__)
            return
        self._failing = False


def _driver_connection(engine: Engine) -> Any:
    """A psycopg connection of the engine's own (its URL, arguments and connect events),
    taken out of the pool for good, in autocommit: LISTEN holds it."""
    pooled = engine.raw_connection()
    connection: Any = pooled.driver_connection
    pooled.detach()
    connection.autocommit = True
    return connection


def _psycopg_32() -> bool:
    import psycopg

    major, minor = (int(part) for part in psycopg.__version__.split(".")[:2])
    return (major, minor) >= (3, 2)


class Listener:
    """One dedicated connection LISTENing on ``channel``; ``wake`` is called on every
    notification, and once after every (re)connect (notifications sent while nobody
    listened are lost)."""

    def __init__(self, engine: Engine, channel: str, wake: Callable[[], None], *, where: str, poll: float) -> None:
        self.engine = engine
        self.channel = channel
        self.wake = wake
        self.where = where
        self.poll = poll
        #: Set while the connection LISTENs (for tests and ``flask dm-email`` output).
        self.listening = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dm-email-listen", daemon=True)
        self._connection: Any = None
        self._down = False
        self._delay = BACKOFF_FIRST

    @staticmethod
    def available(engine: Engine) -> bool:
        """LISTEN needs PostgreSQL through psycopg 3 (``postgresql+psycopg://``)."""
        return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; the thread ends within :data:`CHECK_EVERY` seconds."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as error:
                self.listening.clear()
                if self._stopping.is_set():
                    break
                if not self._down:
                    self._down = True
                    logger.warning("Outbox LISTEN connection to %s failed (%s): polling every %s s, and "
                                   "reconnecting.", self.where, type(error).__name__, self.poll)
                self._stopping.wait(self._delay)
                self._delay = min(self._delay * 2, BACKOFF_MAX)
            finally:
                self._close()
        self.listening.clear()

    def _listen(self) -> None:
        from psycopg import sql

        self._connection = connection = _driver_connection(self.engine)
        connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        self.listening.set()
        self._delay = BACKOFF_FIRST
        if self._down:
            self._down = False
            logger.info("Outbox LISTEN connection to %s is back: workers are woken at once again.", self.where)
        self.wake()  # whatever was committed while nobody listened
        recent = _psycopg_32()
        pinged = time.monotonic()
        while not self._stopping.is_set():
            if recent:
                for _ in connection.notifies(timeout=CHECK_EVERY):
                    self.wake()
            elif self._older_psycopg_wait(connection):
                self.wake()
            if time.monotonic() - pinged >= PING_EVERY:
                connection.execute("SELECT 1")  # a connection dropped silently (a NAT's idle timeout) raises
                pinged = time.monotonic()

    @staticmethod
    def _older_psycopg_wait(connection: Any) -> bool:
        """psycopg 3.1 has no ``notifies(timeout=)``: wait for the socket, then read it
        (raises if the server went away). Anything readable wakes the worker: a spare
        wake finds nothing due and costs one claim."""
        readable, _, _ = select.select([connection.fileno()], [], [], CHECK_EVERY)
        if readable:
            connection.execute("SELECT 1")
        return bool(readable)

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                connection.close()
