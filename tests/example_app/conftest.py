"""Fixtures for the example app.

* ``app`` / ``client``: the example app on the ``test`` stage (memory backend, no
  simulator), with a fresh SQLite database that also holds the outbox — for Flask
  test-client tests. Nothing is sent until a test drains the outbox (:func:`drain`); the
  package's pytest plugin builds ``sent_emails`` on this ``app``.
* ``example``: the example app as ``flask run`` has it — ``development``, the embedded
  simulator, a real SQLite file, the outbox worker started by the first request — served
  over real HTTP on free ports, so the simulator calls it back with delivery receipts.
* ``example_without_worker``: the same, with ``DM_EMAIL_EMBEDDED_WORKER=false``: the
  test delivers the outbox itself, step by step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from example_app import create_app, dm_email, embedded
from example_app.forms import CSRF_FIELD, find_csrf_token
from example_app.models import User, db
from flask_dm_email import QueuedEmail
from flask_dm_email.outbox.embedded import EMBEDDED_KEY
from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.testing import serve_app


@dataclass
class LiveExample:
    """The example app served on ``url``, sending through ``simulator``."""

    app: Flask
    url: str
    simulator: SimulatorServer

    def submit(self, path: str, data: dict[str, str], session: requests.Session | None = None) -> requests.Response:
        """Fill in the form at ``path`` as a browser would: fetch it, then post with its CSRF token."""
        session = session or requests.Session()
        token = find_csrf_token(session.get(f"{self.url}{path}", timeout=5).text)
        assert token, f"no CSRF token in the form at {path}"
        return session.post(f"{self.url}{path}", data={**data, CSRF_FIELD: token}, timeout=5)

    def emails(self, address: str) -> list[QueuedEmail]:
        """The outbox rows linked to the account with this address, newest first."""
        with self.app.app_context():
            return emails_of(address)

    def drain(self) -> int:
        """Deliver what is due, as the worker would."""
        with self.app.app_context():
            return dm_email.outbox.drain(timeout=10)

    def wait_for_status(self, address: str, status: str, timeout: float = 10) -> QueuedEmail:
        """The account's newest email, once it reaches ``status``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.emails(address)
            if found and found[0].status == status:
                return found[0]
            assert time.monotonic() < deadline, f"no {status}; last: {found[0].status if found else 'no email'}"
            time.sleep(0.1)


def emails_of(address: str) -> list[QueuedEmail]:
    """The outbox rows linked to the account with this address, newest first (in an app context)."""
    db.session.expire_all()
    user = User.query.filter_by(email_address=address).one()
    return dm_email.outbox.find(link=user)


def drain(app: Flask) -> int:
    """Deliver the test-stage app's outbox now (there is no worker on the test stage)."""
    with app.app_context():
        return dm_email.outbox.drain(timeout=10)


def submit(client: FlaskClient, path: str, data: dict[str, str]) -> Any:
    """The test-client version of :meth:`LiveExample.submit`."""
    token = find_csrf_token(client.get(path).get_data(as_text=True))
    assert token, f"no CSRF token in the form at {path}"
    return client.post(path, data={**data, CSRF_FIELD: token})


def make_test_app(tmp_path: Path, **config: Any) -> Flask:
    """The example app on the test stage: memory backend, no simulator, fresh SQLite."""
    return create_app(
        {
            "TESTING": True,
            "EXAMPLE_EMBEDDED_SIMULATOR": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}",
            "SECRET_KEY": "test-secret",
            **config,
        }
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The example app on the test stage, in an app context."""
    application = make_test_app(tmp_path)
    with application.app_context():
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _live_example(tmp_path: Path, **config: Any) -> Iterator[LiveExample]:
    app = create_app(
        {
            "DM_ENVIRONMENT": "development",
            "EXAMPLE_SIMULATOR_PORT": 0,  # a free port, and a simulator of its own
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}",
            "SECRET_KEY": "test-secret",
            **config,
        }
    )
    simulator = app.extensions["example_simulator"]
    try:
        with serve_app(app) as url:
            # The app now listens on a free port, not EXAMPLE_APP_URL's: call it there.
            embedded.point_callbacks(
                simulator.url, f"{url}/callbacks/notify", app.extensions["dm_email"].settings.callback_tokens[0]
            )
            yield LiveExample(app, url, simulator)
    finally:
        # The outbox worker `flask run` would run, started by the first request: stop it
        # with the test, rather than with the interpreter.
        worker = app.extensions.get(EMBEDDED_KEY)
        if worker is not None:
            worker.close()
        simulator.stop()


@pytest.fixture
def example(tmp_path: Path) -> Iterator[LiveExample]:
    """The example app on development with its embedded simulator and outbox worker, over real HTTP."""
    yield from _live_example(tmp_path)


@pytest.fixture
def example_without_worker(tmp_path: Path) -> Iterator[LiveExample]:
    """The same without the embedded outbox worker: the test drains the outbox itself."""
    yield from _live_example(tmp_path, DM_EMAIL_EMBEDDED_WORKER=False)
