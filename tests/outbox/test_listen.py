"""PostgreSQL's LISTEN/NOTIFY: a commit in one process wakes a worker in another at once.

Every worker here polls only every 30 s, so an email sent within seconds was sent
because of a NOTIFY. The queuing app and the worker's app are separate apps with
separate engines (separate connections, as separate processes have): nothing in this
process's memory carries the wake.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import create_engine, text

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.outbox import listen
from flask_dm_email.outbox.listen import channel_name
from flask_dm_email.outbox.worker import Worker

from ..services import postgres_schema
from .conftest import SAFE
from .crash_app import create_app

ROOT = Path(__file__).resolve().parents[2]
LONG_POLL = 30.0
SOON = 3.0  # far under LONG_POLL, generous for a busy machine


@pytest.fixture
def outbox_url() -> Iterator[str]:
    """PostgreSQL only: LISTEN/NOTIFY is PostgreSQL's."""
    with postgres_schema() as url:
        yield url


@pytest.fixture
def running() -> Iterator[Callable[[Worker], Worker]]:
    """Run workers in threads; stop them after the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(worker: Worker) -> Worker:
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        started.append((worker, thread))
        deadline = time.monotonic() + 10
        while worker.listener is None or not worker.listener.listening.is_set():
            assert time.monotonic() < deadline, "the worker never started LISTENing"
            time.sleep(0.02)
        return worker

    yield start
    for worker, thread in started:
        worker.close()
        thread.join(5)


def sent(app: Flask, email_id: str, within: float) -> float | None:
    """Seconds until the email was sent to Notify, or None if not within ``within``."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        with app.app_context():
            email = DMEmail.outbox.get(email_id)
        if email is not None and email.status == "sent-to-notify":
            return time.monotonic() - start
        time.sleep(0.02)
    return None


def queue_one(app: Flask, **kwargs: Any) -> str:
    with app.app_context():
        return queue_email("ada@example.com", "welcome", {"name": "Ada"}, **kwargs).id


def test_a_commit_wakes_a_worker_of_another_connection_at_once(
    make_outbox_app: Callable[..., Flask], running: Callable[[Worker], Worker],
) -> None:
    worker_app, queuing_app = make_outbox_app(), make_outbox_app()
    running(Worker(worker_app, threads=2, poll=LONG_POLL))
    time.sleep(0.3)  # the worker's first claims are done: it waits out its long poll
    for _ in range(3):
        seconds = sent(queuing_app, queue_one(queuing_app), SOON)
        assert seconds is not None, f"not sent within {SOON} s: the worker was not woken by NOTIFY"


def test_outboxes_sharing_a_database_have_channels_of_their_own() -> None:
    assert channel_name("t_a", "service") != channel_name("t_b", "service")
    assert channel_name("t_a", "service") != channel_name("t_a", "other")
    awkward = channel_name('we"ird; DROP TABLE outbox; --', "s")
    assert awkward.startswith("dm_email_") and awkward.replace("_", "").isalnum() and len(awkward) < 63


@pytest.fixture
def session_app(sim: Any, template_id: str, outbox_url: str) -> Iterator[tuple[Flask, Any]]:
    """An app whose outbox is in its Flask-SQLAlchemy database (``queue_email(session=)``)."""
    db = SQLAlchemy()
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=outbox_url, DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify",
        DM_NOTIFY_KEY=sim.create_api_key(key_type="test"), DM_NOTIFY_BASE_URL=sim.url,
        DM_NOTIFY_TEMPLATES={"welcome": template_id},
        DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={"example.com": SAFE}, DM_EMAIL_OUTBOX_URL="sqlalchemy",
    )
    db.init_app(app)
    dm_email = DMEmail(app)
    with app.app_context():
        dm_email.outbox.create_tables()
    yield app, db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_notify_is_sent_at_commit_and_never_for_a_rollback(
    session_app: tuple[Flask, Any], outbox_url: str, make_outbox_app: Callable[..., Flask],
    running: Callable[[Worker], Worker],
) -> None:
    app, db = session_app
    with app.app_context():
        runtime = app.extensions["dm_email"].outbox
        channel = runtime.channel(db.engine)
    # A bystander LISTENing on the outbox's channel, on a connection of its own.
    bystander = psycopg.connect(create_engine(outbox_url).url.set(drivername="postgresql")
                                .render_as_string(hide_password=False), autocommit=True)
    bystander.execute(f'LISTEN "{channel}"')
    worker = running(Worker(make_outbox_app(), threads=2, poll=LONG_POLL))

    with app.app_context():
        rolled_back = queue_email("ada@example.com", "welcome", {"name": "Ada"}, session=db.session).id
        db.session.rollback()
    assert list(bystander.notifies(timeout=1.0, stop_after=1)) == []

    with app.app_context():
        committed = queue_email("bob@example.com", "welcome", {"name": "Bob"}, session=db.session).id
        db.session.flush()
        assert list(bystander.notifies(timeout=0.5, stop_after=1)) == [], "NOTIFY before the commit"
        db.session.commit()
    assert [n.channel for n in bystander.notifies(timeout=SOON, stop_after=1)] == [channel]
    assert sent(app, committed, SOON) is not None
    with app.app_context():
        assert DMEmail.outbox.get(rolled_back) is None
    assert worker.listener is not None and worker.listener.listening.is_set()
    bystander.close()


def test_a_killed_listen_connection_falls_back_to_polling_then_listens_again(
    make_outbox_app: Callable[..., Flask], running: Callable[[Worker], Worker], outbox_url: str,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(listen, "BACKOFF_FIRST", 4.0)  # long enough to see the polling alone
    caplog.set_level(logging.INFO, "flask_dm_email.outbox")
    worker_app, queuing_app = make_outbox_app(), make_outbox_app()
    worker = running(Worker(worker_app, threads=2, poll=0.3))
    listener = worker.listener
    assert listener is not None
    backend = listener._connection.info.backend_pid
    admin = create_engine(outbox_url)
    with admin.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
    deadline = time.monotonic() + 5
    while listener.listening.is_set():
        assert time.monotonic() < deadline, "the listener did not notice its connection was killed"
        time.sleep(0.02)

    # No LISTEN now: the worker still delivers, by polling.
    assert sent(queuing_app, queue_one(queuing_app), SOON) is not None
    assert not listener.listening.is_set()

    # It reconnects; then a long poll again, and a NOTIFY still wakes it at once.
    assert listener.listening.wait(10), "the listener did not reconnect"
    worker.poll = LONG_POLL
    time.sleep(0.6)  # the last short poll ends; the worker now waits LONG_POLL
    assert sent(queuing_app, queue_one(queuing_app), SOON) is not None

    messages = [r.getMessage() for r in caplog.records if "LISTEN connection" in r.getMessage()]
    assert len(messages) == 2, messages  # failed once (however many retries), then back
    assert "failed" in messages[0] and "back" in messages[1]
    assert all(worker_app.extensions["dm_email"].outbox.database.description in m for m in messages)  # redacted
    admin.dispose()


def test_the_worker_command_listens(sim: Any, outbox_url: str, template_id: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``flask dm-email worker`` itself holds a LISTEN connection on the outbox's channel."""
    env = {**os.environ, "CRASH_NOTIFY_KEY": sim.create_api_key(key_type="test"), "CRASH_NOTIFY_URL": sim.url,
           "CRASH_OUTBOX_URL": outbox_url, "CRASH_TEMPLATE": template_id, "PYTHONPATH": str(ROOT)}
    for name in ("CRASH_NOTIFY_KEY", "CRASH_NOTIFY_URL", "CRASH_OUTBOX_URL"):
        monkeypatch.setenv(name, env[name])
    app = create_app()
    with app.app_context():
        DMEmail.outbox.create_tables()
        runtime = app.extensions["dm_email"].outbox
        channel = runtime.channel(runtime.database.engine)
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "tests.outbox.crash_app:create_app", "dm-email", "worker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    admin = create_engine(outbox_url)
    try:
        deadline = time.monotonic() + 20
        while True:
            with admin.connect() as conn:
                listening = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE query = :q"),
                                         {"q": f'LISTEN "{channel}"'}).scalar()
            if listening == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert listening == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        admin.dispose()
        runtime.database.engine.dispose()


def test_a_pending_notify_never_keeps_the_process_from_ending() -> None:
    """At exit the notifier sends a NOTIFY still pending (a script that queues and ends at
    once); a database that accepts the connection and never answers must not hang the exit."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections are accepted by the kernel, and nothing ever answers them
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{silent.getsockname()[1]}/outbox")
    notifier = listen.Notifier("the silent database", lambda _: "dm_email_test")
    try:
        notifier.notify(engine)  # the notifier's thread now waits on the silent database
        time.sleep(0.2)
        notifier.notify(engine)  # and this one is pending when the process ends
        exiting = threading.Thread(target=notifier.flush, daemon=True)  # as atexit calls it
        started = time.monotonic()
        exiting.start()
        exiting.join(10)
        assert not exiting.is_alive(), "the exit waited on the database"
        assert time.monotonic() - started < 3
    finally:
        engine.dispose()
        silent.close()
