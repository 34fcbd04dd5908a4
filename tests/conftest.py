"""Shared fixtures: apps built from a clean environment, so the developer's own DM_*
variables or .env file never leak into a test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from flask_dm_email import DMEmail

TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
KEY = "my_key-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"
TOKEN = "a-callback-token-of-enough-length"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No DM_* variable from the developer's shell, and no .env unless a test writes one."""
    for name in list(os.environ):
        # The test run's own switches stay: DM_EMAIL_REQUIRE_SERVICES (CI fails, not skips,
        # without PostgreSQL/Redis/RabbitMQ) and where those services are.
        if name.startswith("DM_") and name != "DM_EMAIL_REQUIRE_SERVICES" and not name.startswith("DM_EMAIL_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DM_DOTENV_PATH", str(tmp_path / "no-such.env"))


@pytest.fixture(autouse=True)
def fresh_alerts() -> None:
    """Alerts are held back per process for 10 minutes: each test starts without history."""
    from flask_dm_email import alerts
    from flask_dm_email.outbox import watch

    alerts.reset()
    watch.reset()


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """Build an app with ``config`` and register a fresh DMEmail on it."""

    def factory(extension: DMEmail | None = None, **config: Any) -> Flask:
        app = Flask(__name__)
        app.config.update(config)
        (extension or DMEmail()).init_app(app)
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """A test-stage app with one template; the plugin's fixtures build on it."""
    application = make_app(
        DM_ENVIRONMENT="test",
        DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE_ID},
        DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS="example.com=success@simulator.amazonses.com",
    )
    with application.app_context():
        yield application


@pytest.fixture
def sim(notify_simulator: Any) -> Any:
    """The plugin's simulator, under a short name."""
    return notify_simulator


@pytest.fixture
def template_id(sim: Any) -> str:
    """A "Welcome" template with a ((name)) placeholder on the simulator."""
    return str(sim.add_template(name="Welcome", subject="Hello ((name))", body="Dear ((name)),\n\nWelcome."))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the test item, so fixtures can see a failure
    (the browser tests save a screenshot)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
