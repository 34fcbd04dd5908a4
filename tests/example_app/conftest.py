"""Fixtures for the example app.

* ``app`` / ``client``: the example app on the ``test`` stage (memory backend, no
  simulator), with a fresh SQLite database — for Flask test-client tests. The package's
  pytest plugin builds ``sent_emails`` on this ``app``.
* ``example``: the example app as ``flask run`` has it — ``development``, the embedded
  simulator, a real SQLite file — served over real HTTP on free ports, so the simulator
  calls it back with delivery receipts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from example_app import create_app, embedded
from example_app.csrf import FIELD
from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.testing import serve_app

TOKEN_PATTERN = re.compile(rf'name="{FIELD}" value="([^"]+)"')


@dataclass
class LiveExample:
    """The example app served on ``url``, sending through ``simulator``."""

    app: Flask
    url: str
    simulator: SimulatorServer

    def submit(self, path: str, data: dict[str, str], session: requests.Session | None = None) -> requests.Response:
        """Fill in the form at ``path`` as a browser would: fetch it, then post with its CSRF token."""
        session = session or requests.Session()
        form = session.get(f"{self.url}{path}", timeout=5).text
        token = TOKEN_PATTERN.search(form)
        assert token, f"no CSRF token in the form at {path}"
        return session.post(f"{self.url}{path}", data={**data, FIELD: token.group(1)}, timeout=5)


def submit(client: FlaskClient, path: str, data: dict[str, str]) -> Any:
    """The test-client version of :meth:`LiveExample.submit`."""
    token = TOKEN_PATTERN.search(client.get(path).get_data(as_text=True))
    assert token, f"no CSRF token in the form at {path}"
    return client.post(path, data={**data, FIELD: token.group(1)})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The example app on the test stage: memory backend, no simulator, fresh SQLite."""
    application = create_app(
        {
            "TESTING": True,
            "EXAMPLE_EMBEDDED_SIMULATOR": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}",
            "SECRET_KEY": "test-secret",
        }
    )
    with application.app_context():
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def example(tmp_path: Path) -> Iterator[LiveExample]:
    """The example app on development with its embedded simulator, over real HTTP."""
    app = create_app(
        {
            "DM_ENVIRONMENT": "development",
            "EXAMPLE_SIMULATOR_PORT": 0,  # a free port, and a simulator of its own
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}",
            "SECRET_KEY": "test-secret",
        }
    )
    simulator = app.extensions["example_simulator"]
    try:
        with serve_app(app) as url:
            # The app now listens on a free port, not EXAMPLE_APP_URL's: call it there.
            embedded.point_callbacks(
                simulator, f"{url}/callbacks/notify", app.extensions["dm_email"].settings.callback_tokens[0]
            )
            yield LiveExample(app, url, simulator)
    finally:
        simulator.stop()
