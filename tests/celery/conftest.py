"""Celery on real brokers (Redis, RabbitMQ) with Celery's own embedded test worker,
delivering an outbox on SQLite or PostgreSQL to the Notify simulator over HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker, test_worker_started
from flask import Flask
from kombu import Queue

from flask_dm_email.celery_adapter import CeleryTasks, init_celery

from ..outbox.conftest import make_outbox_app  # noqa: F401 (a fixture used by these tests)
from ..services import RABBITMQ_URL, REDIS_URL, postgres_schema, require_url

# A Redis database of its own, so a look at the broker sees only Celery's keys.
CELERY_REDIS_URL = urlsplit(REDIS_URL)._replace(path="/13").geturl()
BROKERS = {"redis": ("Redis", CELERY_REDIS_URL, 6379), "rabbitmq": ("RabbitMQ", RABBITMQ_URL, 5672)}


@pytest.fixture
def outbox_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The outbox database: a SQLite file, or with ``@on_both_databases`` that and then
    a PostgreSQL schema of its own."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    else:
        with postgres_schema() as url:
            yield url


#: Run a test on SQLite and on PostgreSQL (the rest run on SQLite only, to stay quick).
on_both_databases = pytest.mark.parametrize("outbox_url", ["sqlite", "postgresql"], indirect=True)


@dataclass
class Broker:
    """A Celery app on a real broker, with a queue of its own (deleted afterwards)."""

    celery: Celery
    queue: str

    def held(self) -> list[dict[str, Any]]:
        """Every message the broker holds in our queue, as it holds it (raw body,
        headers, properties); taken off the queue."""
        found = []
        with self.celery.connection_for_read() as conn:
            queue = Queue(self.queue).bind(conn.default_channel)
            while (message := queue.get(no_ack=True)) is not None:
                found.append({"body": message.body, "headers": message.headers, "properties": message.properties})
        return found

    def purge(self) -> int:
        """Lose every message in our queue, as a broker restart without persistence does."""
        with self.celery.connection_for_write() as conn:
            return int(Queue(self.queue).bind(conn.default_channel).purge() or 0)

    @contextmanager
    def worker(self, concurrency: int = 4) -> Iterator[Any]:
        """Celery's embedded test worker, on threads."""

        def tick(worker: Any, **_: Any) -> None:
            # The event loop sees the test's "stop" only between polls, and with nothing
            # scheduled a poll lasts 10 s (on RabbitMQ): a timer keeps them short.
            worker.timer.call_repeatedly(0.2, lambda: None)

        test_worker_started.connect(tick, sender=self.celery, weak=False)
        try:
            with start_worker(self.celery, pool="threads", concurrency=concurrency, perform_ping_check=False,
                              shutdown_timeout=20) as worker:
                yield worker
        finally:
            test_worker_started.disconnect(tick, sender=self.celery)

    def delete(self) -> None:
        with self.celery.connection_for_write() as conn:
            Queue(self.queue).bind(conn.default_channel).delete()


def make_celery(broker_url: str, queue: str) -> Celery:
    celery = Celery(f"dm-email-test-{queue}", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_default_queue=queue,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
    )
    return celery


@pytest.fixture
def make_broker() -> Iterator[Callable[[str], Broker]]:
    made: list[Broker] = []

    def build(kind: str) -> Broker:
        name, url, port = BROKERS[kind]
        require_url(name, url, port)
        queue = f"dm-email-test-{uuid.uuid4().hex[:12]}"
        broker = Broker(make_celery(url, queue), queue)
        made.append(broker)
        return broker

    yield build
    for broker in made:
        broker.delete()
        broker.celery.close()


@pytest.fixture
def broker(make_broker: Callable[[str], Broker]) -> Broker:
    """Redis as the broker."""
    return make_broker("redis")


@pytest.fixture
def celery_app_for(
    broker: Broker, make_outbox_app: Callable[..., Flask]  # noqa: F811 (the fixture imported above)
) -> Callable[..., tuple[Flask, CeleryTasks]]:
    """An outbox app (simulator over HTTP) wired to ``broker`` by ``init_celery``."""

    def build(*, sweep_grace: float = 0.0, **config: Any) -> tuple[Flask, CeleryTasks]:
        app = make_outbox_app(**config)
        return app, init_celery(broker.celery, app, sweep_grace=sweep_grace)

    return build


def wait_for_status(app: Flask, ids: list[str], status: str, timeout: float = 20.0) -> dict[str, str]:
    """Each row's status once all are ``status`` (or as they are at ``timeout``)."""
    store = app.extensions["dm_email"].outbox.store
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            found = {row_id: (row["status"] if (row := store.get(row_id)) else "missing") for row_id in ids}
        if all(s == status for s in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
