"""Outbox fixtures: apps whose outbox is SQLite (a file) or PostgreSQL (a fresh schema),
sending through the local Notify simulator over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_dm_email import DMEmail

from ..services import postgres_schema

SAFE = "success@simulator.amazonses.com"
TIMEOUT = 0.5


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The outbox database: a SQLite file, then a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def env(sim: Any, outbox_url: str) -> dict[str, str]:
    """The environment of ``tests/outbox/crash_app.py`` run as a command (``flask --app
    tests.outbox.crash_app:create_app ...``): the simulator, a template, this outbox."""
    template = sim.add_template(name="T", subject="Hi ((n))", body="Hello ((n))")
    return {
        **os.environ,
        "CRASH_NOTIFY_KEY": sim.create_api_key(key_type="test"),
        "CRASH_NOTIFY_URL": sim.url,
        "CRASH_OUTBOX_URL": outbox_url,
        "CRASH_TEMPLATE": template,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }


@pytest.fixture
def make_outbox_app(sim: Any, template_id: str, outbox_url: str) -> Callable[..., Flask]:
    """An app on the test stage sending through the simulator, with its outbox at
    ``outbox_url`` and fast retries; keyword arguments override config."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        app = Flask(__name__)
        app.config.update(
            DM_ENVIRONMENT="test",
            DM_EMAIL_BACKEND="notify",
            DM_NOTIFY_KEY=sim.create_api_key(key_type="test"),
            DM_NOTIFY_BASE_URL=sim.url,
            DM_NOTIFY_TEMPLATES={"welcome": template_id},
            DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={"example.com": SAFE},
            DM_NOTIFY_TIMEOUT=TIMEOUT,
            DM_NOTIFY_IN_FLIGHT_SECONDS=2,
            DM_EMAIL_LEASE_SECONDS=8,
            DM_EMAIL_RETRY_SCHEDULE="0,0,0,0",
            DM_EMAIL_OUTBOX_URL=outbox_url,
        )
        app.config.update(overrides)
        dm_email = DMEmail(app)
        with app.app_context():
            dm_email.outbox.create_tables()
        apps.append(app)
        return app

    yield build  # type: ignore[misc]
    for app in apps:
        runtime = app.extensions["dm_email"].outbox
        if runtime is not None and runtime.database._dialect is not None:
            runtime.database.engine.dispose()


def on_simulator(sim: Any, notify_reference: str) -> list[dict[str, Any]]:
    """The notifications the simulator stored with this reference."""
    return [m for m in sim.messages() if m.get("reference") == notify_reference]
