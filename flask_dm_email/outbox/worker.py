"""The worker: claim due rows, deliver them from a thread pool, repeat.

``flask dm-email worker`` runs one in the foreground (SIGTERM stops it gracefully); on
development ``flask run`` runs one in a daemon thread of the serving process; tests and
scripts call :meth:`Worker.drain`. Any number of workers may share one database: claims
skip rows another worker holds, and every write is fenced by the claim token.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from flask import Flask
from sqlalchemy import RowMapping

from ..state import get_state
from . import states
from .delivery import Delivery
from .listen import Listener
from .runtime import OutboxRuntime

logger = logging.getLogger("flask_dm_email.outbox")

POLL_SECONDS = 0.5
#: How long a stopping worker waits for a housekeeping run to reach a safe point (seconds).
HOUSEKEEPING_GRACE = 5.0


class Worker:
    """Deliver ``app``'s outbox with ``threads`` threads (one Notify client each)."""

    def __init__(self, app: Flask, *, threads: int = 4, poll: float = POLL_SECONDS, listen: bool = True) -> None:
        self.app = app
        self.threads = max(1, threads)
        self.poll = poll
        #: On PostgreSQL (psycopg 3), :meth:`run` LISTENs so a commit in another process
        #: wakes it at once; polling every ``poll`` seconds stays the safety net.
        self.listen = listen
        self.listener: Listener | None = None
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dm-email-worker")

    @property
    def runtime(self) -> OutboxRuntime:
        runtime = get_state(self.app).outbox
        assert runtime is not None
        return runtime

    def _claim(self, limit: int) -> tuple[list[RowMapping], Delivery]:
        """Due rows, and the delivery that knows when they were claimed."""
        store = self.runtime.store
        delivery = Delivery(self.app, get_state(self.app), store, claimed_at=time.monotonic(),
                            stopping=self.stopping)
        if self.stopping.is_set() or limit <= 0 or store.paused():
            return [], delivery
        return store.claim(limit, self.runtime.settings.lease_seconds), delivery

    def _deliver_in_context(self, delivery: Delivery, row: RowMapping) -> None:
        with self.app.app_context():
            if self.stopping.is_set():
                # Stopping: rows not yet started go back unsent, for another worker.
                self.runtime.give_back([row])
                return
            try:
                delivery.deliver(row)
            except Exception:
                # The row keeps its lease and is retried when it expires, as after a crash.
                logger.exception("Outbox delivery of row %s failed unexpectedly", row["id"])

    def _pump(self, *, until_idle: bool, deadline: float | None = None,
              chores: Housekeeping | None = None) -> int:
        """Keep the pool busy: up to twice the threads in flight, claiming more as soon as
        there is room for a thread's worth (so the budget's pace, not the gaps between
        batches, sets the rate). Returns the rows handled."""
        inflight: set[Future[None]] = set()
        total = 0
        while True:
            if chores is not None and not self.stopping.is_set():
                chores.run_due()  # in a thread of its own: sending goes on meanwhile
            stop_claiming = self.stopping.is_set() or (deadline is not None and time.monotonic() >= deadline)
            room = self.threads * 2 - len(inflight)
            if not stop_claiming and room >= self.threads:
                with self.app.app_context():
                    rows, delivery = self._claim(room)
                    if rows:
                        inflight.update(self._pool.submit(self._deliver_in_context, delivery, row) for row in rows)
                        total += len(rows)
                        continue
            if inflight:
                _, inflight = wait(inflight, timeout=self.poll, return_when=FIRST_COMPLETED)
                continue
            if until_idle or stop_claiming:
                return total
            queued = self.runtime.queued
            queued.wait(self.poll)
            queued.clear()

    def run(self, *, once: bool = False) -> None:
        """Work until :meth:`stop`, with the :class:`Housekeeping` beside it; or, with
        ``once``, until nothing is due, without it."""
        with self.app.app_context():
            self.runtime.store.check_schema()
            if self.listen and not once:
                self.listener = self._start_listener()
        chores = Housekeeping(self.app, self.stopping)
        try:
            self._pump(until_idle=once, chores=None if once else chores)
        finally:
            if self.listener is not None:
                self.listener.stop()
            chores.join(HOUSEKEEPING_GRACE)

    def _start_listener(self) -> Listener | None:
        """LISTEN on the outbox's channel (PostgreSQL through psycopg 3; else poll)."""
        runtime = self.runtime
        engine = runtime.database.engine
        if not Listener.available(engine):
            if engine.dialect.name == "postgresql":
                logger.info("Outbox worker polls every %s s: LISTEN needs psycopg 3 (postgresql+psycopg://), "
                            "not %s.", self.poll, engine.dialect.driver)
            return None
        listener = Listener(engine, runtime.channel(engine), runtime.queued.set, where=runtime.database.description,
                            poll=self.poll)
        listener.start()
        return listener

    def drain(self, timeout: float = 30.0) -> int:
        """Deliver everything due now, in this process; return how many rows were
        handled. Rows scheduled for later stay queued."""
        return self._pump(until_idle=True, deadline=time.monotonic() + timeout)

    def stop(self) -> None:
        """Stop claiming; in-flight deliveries finish."""
        self.stopping.set()
        self.runtime.queued.set()  # this process's workers only: no NOTIFY to the others

    def close(self, grace: float = 10.0) -> None:
        self.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)


class Housekeeping:
    """Chores a long-running worker does beside its claims, each at most once per period:
    statuses polled for rows Notify never called back about, retention's purge.

    They run in a thread of their own, one run at a time, so a slow chore (the first
    purge of millions of old events after an upgrade, Notify slow to answer a status
    poll) never holds up sending; and a worker that is never idle still does them."""

    SYNC_EVERY = 300.0
    PURGE_EVERY = 3600.0

    def __init__(self, app: Flask, stopping: threading.Event | None = None) -> None:
        self.app = app
        #: Set when the worker stops: the purge stops between two of its transactions.
        self.stopping = stopping if stopping is not None else threading.Event()
        self.last: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    def _due(self, name: str, period: float) -> bool:
        now = time.monotonic()
        if now - self.last.get(name, -period) < period:
            return False
        self.last[name] = now
        return True

    def run_due(self) -> threading.Thread | None:
        """Start the chores that are due, in a thread; return it (None when none is due,
        or the last run is still going: a chore is never run twice at once)."""
        if self._thread is not None and self._thread.is_alive():
            return None
        due = [name for name, period in (("sync", self.SYNC_EVERY), ("purge", self.PURGE_EVERY))
               if self._due(name, period)]
        if not due:
            return None
        self._thread = threading.Thread(target=self._run, args=(due,), name="dm-email-housekeeping", daemon=True)
        self._thread.start()
        return self._thread

    def _run(self, due: list[str]) -> None:
        from .retention import purge
        from .sync import sync_statuses

        with self.app.app_context():
            runtime = get_state(self.app).outbox
            assert runtime is not None
            try:
                if "sync" in due:
                    sync_statuses(self.app, older_than=self.SYNC_EVERY)
                if "purge" in due and not self.stopping.is_set():
                    # personal data, and events past DM_EMAIL_EVENT_RETENTION_DAYS
                    purge(runtime, stopping=self.stopping)
            except Exception:
                logger.exception("Outbox housekeeping failed; it is tried again later")

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a run in progress (after :attr:`stopping`)."""
        if self._thread is not None:
            self._thread.join(timeout)


def wait_until_final(app: Flask, row_id: str, timeout: float = 10.0) -> str | None:
    """The row's status once final (or the last seen at ``timeout``): for tests and demos."""
    deadline = time.monotonic() + timeout
    status = None
    with app.app_context():
        runtime = get_state(app).outbox
        assert runtime is not None
        while time.monotonic() < deadline:
            row = runtime.store.get(row_id)
            status = str(row["status"]) if row else None
            if status in states.FINAL:
                return status
            time.sleep(0.05)
    return status
