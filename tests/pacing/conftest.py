"""Every limiter store, on the real thing: memory, SQLite (a file, and the test stage's
in-memory database), PostgreSQL (a fresh schema) and Redis (a fresh key prefix)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from flask_dm_email.outbox.database import Database, make_engine
from flask_dm_email.outbox.tables import limit
from flask_dm_email.pacing import LimitStore, MemoryStore
from flask_dm_email.pacing.redis import RedisStore
from flask_dm_email.pacing.sql import SqlStore

from ..services import REDIS_URL, postgres_schema, require

STORES = ["memory", "sqlite-file", "sqlite-memory", "postgresql", "redis"]


# Read when this file is imported: the autouse ``clean_environment`` fixture removes every
# DM_* variable before a test runs, this one included, which would turn CI's "fail when a
# service is missing" back into a skip.
_REQUIRE_SERVICES = os.environ.get("DM_EMAIL_REQUIRE_SERVICES")


def needs(monkeypatch: pytest.MonkeyPatch, name: str, port: int) -> None:
    """Skip unless ``name`` is listening, or fail under CI (tests.services.require)."""
    with monkeypatch.context() as patch:
        if _REQUIRE_SERVICES is not None:
            patch.setenv("DM_EMAIL_REQUIRE_SERVICES", _REQUIRE_SERVICES)
        require(name, "127.0.0.1", port)


@pytest.fixture
def postgres_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL schema's URL."""
    needs(monkeypatch, "PostgreSQL", 5432)
    with postgres_schema() as url:
        yield url


@dataclass
class Case:
    """A store under test, with what a test needs around it."""

    store: LimitStore
    #: The clock the store's "now" follows, to bracket its decisions.
    clock: Callable[[], float]
    #: Moves the store's day on, so today's count belongs to yesterday.
    next_day: Callable[[str], None]
    #: Where a process finds this store (None: memory is not shared).
    url: str | None = None
    prefix: str = ""


def sql_database(url: str) -> Database:
    engine = make_engine(url)
    database = Database(lambda: engine, "test", shared_app_engine=False)
    SqlStore(database).create_table()
    return database


def sql_case(database: Database, url: str | None) -> Case:
    def next_day(key: str) -> None:
        with database.begin() as conn:
            conn.execute(update(limit).where(limit.c.key == key).values(day="2000-01-01"))

    return Case(SqlStore(database), time.time, next_day, url)


@pytest.fixture
def redis_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisStore]:
    """A Redis store whose keys live under a prefix of their own, deleted afterwards."""
    needs(monkeypatch, "Redis", 6379)
    store = RedisStore.from_url(REDIS_URL, prefix=f"dm_email_test:{uuid.uuid4().hex}:")
    yield store
    for name in store.client.scan_iter(match=f"{store.prefix}*"):
        store.client.delete(name)
    store.client.close()


@pytest.fixture(params=STORES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """Each store in turn."""
    kind: str = request.param
    if kind == "memory":
        wall = [time.time()]

        def next_day(_key: str) -> None:
            wall[0] += 86_400

        yield Case(MemoryStore(wall_clock=lambda: wall[0]), time.monotonic, next_day)
    elif kind.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'limit.sqlite3'}" if kind == "sqlite-file" else "sqlite://"
        database = sql_database(url)
        yield sql_case(database, url if kind == "sqlite-file" else None)
        database.engine.dispose()
    elif kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        database = sql_database(url)
        yield sql_case(database, url)
        database.engine.dispose()
    else:
        store: RedisStore = request.getfixturevalue("redis_store")

        def redis_next_day(key: str) -> None:
            name = store.prefix + key
            day: Any = store.client.hget(name, "day")
            store.client.hset(name, "day", str(int(day) - 1))

        yield Case(store, time.time, redis_next_day, REDIS_URL, store.prefix)


@pytest.fixture
def key() -> str:
    """A limiter key no other test uses."""
    return f"notify:{uuid.uuid4()}"
