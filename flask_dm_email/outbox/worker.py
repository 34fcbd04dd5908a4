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
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import RowMapping

from ..state import get_state
from . import states
from .delivery import Delivery
from .runtime import OutboxRuntime

logger = logging.getLogger("flask_dm_email.outbox")

POLL_SECONDS = 0.5


class Worker:
    """Deliver ``app``'s outbox with ``threads`` threads (one Notify client each)."""

    def __init__(self, app: Flask, *, threads: int = 4, poll: float = POLL_SECONDS) -> None:
        self.app = app
        self.threads = max(1, threads)
        self.poll = poll
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dm-email-worker")

    @property
    def runtime(self) -> OutboxRuntime:
        runtime = get_state(self.app).outbox
        assert runtime is not None
        return runtime

    def run_once(self) -> int:
        """Claim what is due (up to twice the threads) and deliver it; how many rows."""
        runtime = self.runtime
        store = runtime.store
        if self.stopping.is_set() or store.paused():
            return 0
        rows = store.claim(self.threads * 2, runtime.settings.lease_seconds)
        if not rows:
            return 0
        delivery = Delivery(self.app, get_state(self.app), store)

        def deliver_in_context(row: RowMapping) -> None:
            with self.app.app_context():
                if self.stopping.is_set():
                    # Stopping: rows not yet started go back unsent, for another worker.
                    runtime.give_back([row])
                    return
                try:
                    delivery.deliver(row)
                except Exception:
                    # The row keeps its lease and is retried when it expires, as after a crash.
                    logger.exception("Outbox delivery of row %s failed unexpectedly", row["id"])

        list(self._pool.map(deliver_in_context, rows))
        return len(rows)

    def run(self, *, once: bool = False) -> None:
        """Work until :meth:`stop` (or, with ``once``, until nothing is due), with the
        housekeeping: statuses polled for rows Notify never called back about, personal
        data purged after retention."""
        with self.app.app_context():
            self.runtime.store.check_schema()
        chores = Housekeeping(self.app)
        while not self.stopping.is_set():
            with self.app.app_context():
                handled = self.run_once()
            if handled:
                continue
            if once:
                return
            chores.run_due()
            queued = self.runtime.queued
            queued.wait(self.poll)
            queued.clear()

    def drain(self, timeout: float = 30.0) -> int:
        """Deliver everything due now, in this process; return how many rows were
        handled. Rows scheduled for later stay queued."""
        deadline = time.monotonic() + timeout
        total = 0
        with self.app.app_context():
            while time.monotonic() < deadline:
                handled = self.run_once()
                total += handled
                if not handled:
                    break
        return total

    def stop(self) -> None:
        """Stop claiming; in-flight deliveries finish."""
        self.stopping.set()
        with self.app.app_context():
            self.runtime.wake()

    def close(self, grace: float = 10.0) -> None:
        self.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)


class Housekeeping:
    """Chores a long-running worker does between claims: each at most once per period."""

    SYNC_EVERY = 300.0
    PURGE_EVERY = 3600.0

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.last: dict[str, float] = {}

    def _due(self, name: str, period: float) -> bool:
        now = time.monotonic()
        if now - self.last.get(name, -period) < period:
            return False
        self.last[name] = now
        return True

    def run_due(self) -> None:
        from .sync import sync_statuses

        with self.app.app_context():
            runtime = get_state(self.app).outbox
            assert runtime is not None
            try:
                if self._due("sync", self.SYNC_EVERY):
                    sync_statuses(self.app, older_than=self.SYNC_EVERY)
                if self._due("purge", self.PURGE_EVERY):
                    runtime.store.purge(runtime.settings.retention_days)
            except Exception:
                logger.exception("Outbox housekeeping failed; it is tried again later")


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
