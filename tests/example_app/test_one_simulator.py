"""One simulator: while the example app runs (as under ``flask run``, with its simulator on
a fixed port), the commands a user runs beside it — ``dm-email send-test``, ``config``,
``outbox status`` and ``demo``, each a process of its own — use that simulator and say
so, and the demo leaves the user's accounts and receipts alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from example_app import create_app, dm_email, embedded
from example_app.models import User, db
from flask_dm_email.outbox.embedded import EMBEDDED_KEY
from flask_dm_email.testing import serve_app

from .conftest import LiveExample

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveExample]:
    """The example app as ``flask run`` has it, its simulator on a fixed port (as on 6011)."""
    monkeypatch.delenv(embedded.HANDOVER_VARIABLE, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    app = create_app({
        "DM_ENVIRONMENT": "development", "EXAMPLE_SIMULATOR_PORT": port,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}", "SECRET_KEY": "test",
    })
    simulator = app.extensions["example_simulator"]
    try:
        with serve_app(app) as url:
            embedded.point_callbacks(simulator.url, f"{url}/callbacks/notify", app.config["DM_NOTIFY_CALLBACK_TOKEN"])
            yield LiveExample(app, url, simulator)
    finally:
        worker = app.extensions.get(EMBEDDED_KEY)
        if worker is not None:
            worker.close()
        embedded._running.pop(port, None)
        simulator.stop()


def flask(running: LiveExample, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``flask --app example_app ...`` in a process of its own, beside the running app."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DM_", "EXAMPLE_"))},
        "DM_DOTENV_PATH": str(tmp_path / "none.env"),
        "DATABASE_URL": str(running.app.config["SQLALCHEMY_DATABASE_URI"]),  # the user's database
        "EXAMPLE_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "EXAMPLE_SIMULATOR_PORT": running.simulator.url.rsplit(":", 1)[1],
        "EXAMPLE_APP_URL": running.url,
    }
    return subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "example_app", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_send_test_config_and_outbox_status_use_the_running_simulator(running: LiveExample, tmp_path: Path) -> None:
    sent = flask(running, tmp_path, "dm-email", "send-test", "--to", "alex@example.com", "--template", "welcome",
                 "-p", "name=Alex", "-p", "link=http://127.0.0.1/")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"Notify: the local Notify simulator at {running.simulator.url}" in sent.stdout
    assert "already running: shared with the other commands" in sent.stderr
    [message] = running.simulator.messages()  # in the inbox the user has open
    assert message["subject"] == "Welcome to the example service, Alex"
    for args in (("dm-email", "config"), ("dm-email", "outbox", "status")):
        result = flask(running, tmp_path, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"local Notify simulator at {running.simulator.url} (already running" in result.stderr
        assert "Port" not in result.stderr  # no second simulator on a free port
    # Nobody took over the app's receipts.
    callbacks = running.simulator.service(embedded.EXAMPLE_SERVICE_ID)["callbacks"]
    assert callbacks["delivery_status"] == {"url": f"{running.url}/callbacks/notify",
                                            "bearer_token": running.app.config["DM_NOTIFY_CALLBACK_TOKEN"]}


def test_the_demo_shares_the_simulator_but_not_the_user_s_accounts_or_receipts(
    running: LiveExample, tmp_path: Path
) -> None:
    # Accounts the user made by hand, with the demo's own fixed addresses among them.
    for name, address in (("Sam", "temp-fail@simulator.notify"), ("Alex", "alex@example.com")):
        assert running.submit("/signup", {"name": name, "email": address}).status_code == 200
        running.wait_for_status(address, "notify-temporary-failure" if name == "Sam" else "notify-delivered")
    with running.app.app_context():
        before = {(u.id, u.email_address, u.active) for u in User.query.all()}
        rows_before = dm_email.outbox.counts()

    result = flask(running, tmp_path, "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The whole loop worked." in result.stdout
    assert "a database of its own" in result.stdout and "demo.db" in result.stdout
    assert f"Notify: the local simulator at {running.simulator.url}, as a service of the demo's own" in result.stdout

    # Every email in the one inbox: the user's two and the demo's three, under its own service.
    messages = running.simulator.messages()
    demo = [m for m in messages if m["service_id"] != embedded.EXAMPLE_SERVICE_ID]
    assert len(messages) == 5 and len(demo) == 3
    assert len({m["service_name"] for m in demo}) == 1
    assert demo[0]["service_name"].startswith("Example app demo")
    # The demo's receipts went to the demo, none to the app; the app's accounts and emails are as they were.
    attempts = running.simulator.callback_attempts
    demo_ids = {m["id"] for m in demo}
    assert len({a["notification_id"] for a in attempts if a["notification_id"] in demo_ids}) == 3
    assert all(not a["url"].startswith(running.url) for a in attempts if a["notification_id"] in demo_ids)
    with running.app.app_context():
        db.session.expire_all()
        assert {(u.id, u.email_address, u.active) for u in User.query.all()} == before
        assert dm_email.outbox.counts() == rows_before
    assert requests.get(f"{running.url}/accounts", timeout=5).text.count('class="delivery-status"') == 2
