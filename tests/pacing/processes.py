"""What each process does in the multi-process tests (started with 'spawn', so it must
be importable, and takes only picklable arguments)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask_dm_email.outbox.database import Database, make_engine
from flask_dm_email.pacing import Limiter, LimitStore
from flask_dm_email.pacing.redis import RedisStore
from flask_dm_email.pacing.sql import SqlStore

RATE, BURST = "100/1", 5


def open_shared(url: str, prefix: str) -> LimitStore:
    """The store the parent made: Redis under ``prefix``, or the SQL database at ``url``."""
    if url.startswith("redis://"):
        return RedisStore.from_url(url, prefix=prefix)
    engine = make_engine(url)
    return SqlStore(Database(lambda: engine, "test", shared_app_engine=False))


def acquire(url: str, prefix: str, key: str, count: int, start: Any, out: str) -> None:
    """Acquire ``count`` slots as fast as the limiter allows; write when each was had."""
    store = open_shared(url, prefix)
    limiter = Limiter(store, key, RATE, BURST)
    store.snapshot(key)  # connected before the start, so every process starts together
    start.wait(timeout=60)
    admitted = []
    for _ in range(count):
        limiter.acquire(max_wait=30)
        admitted.append(time.time())
    Path(out).write_text("\n".join(map(repr, admitted)))


def take_daily(url: str, prefix: str, key: str, tries: int, limit: int, start: Any, out: str) -> None:
    """Try to count ``tries`` emails against a daily ``limit``; write how many counted."""
    store = open_shared(url, prefix)
    limiter = Limiter(store, key, RATE, BURST, daily_limit=limit)
    store.snapshot(key)
    start.wait(timeout=60)
    Path(out).write_text(str(sum(limiter.take_daily() for _ in range(tries))))
