"""When the example app runs the Notify simulator in-process, and that it runs only one."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from example_app import create_app, embedded

DEV = {"DM_ENVIRONMENT": "development", "EXAMPLE_SIMULATOR_PORT": 0, "SECRET_KEY": "test"}


@pytest.fixture(autouse=True)
def own_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'example.db'}")
    # setup() exports the handover for reloader children; keep it out of other tests.
    monkeypatch.delenv(embedded.HANDOVER_VARIABLE, raising=False)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)


@pytest.fixture
def fixed_port() -> Iterator[int]:
    """A port as ``flask run`` would use (6011), but free on this machine."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    yield port
    simulator, _ = embedded._running.pop(port, (None, None))  # type: ignore[arg-type]
    if simulator is not None:
        simulator.stop()


def test_development_without_a_key_runs_the_simulator_with_a_test_key() -> None:
    app = create_app(DEV)
    simulator = app.extensions["example_simulator"]
    try:
        settings = app.extensions["dm_email"].settings
        assert settings.backend == "notify" and settings.notify_base_url == simulator.url
        assert settings.notify_key.startswith("example-test-")  # test key: magic addresses work
        assert len(settings.callback_tokens[0]) >= 10
        assert app.config["EXAMPLE_INBOX_URL"] == f"{simulator.url}/_simulator/inbox"
        # The example is a service of its own on the simulator.
        callbacks = simulator.service(embedded.EXAMPLE_SERVICE_ID)["callbacks"]
        assert callbacks["delivery_status"]["url"] == "http://127.0.0.1:5000/callbacks/notify"
        assert callbacks["complaint"]["url"] == "http://127.0.0.1:5000/callbacks/notify/complaints"
        templates = simulator.service(embedded.EXAMPLE_SERVICE_ID)["templates"]
        assert {t["name"] for t in templates} == {"Welcome", "Password reset", "Notice to all users"}
    finally:
        simulator.stop()


def test_the_callback_url_follows_the_app_url_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DM_NOTIFY_CALLBACK_PREFIX", "/notify-hooks")
    app = create_app({**DEV, "EXAMPLE_APP_URL": "http://127.0.0.1:8080/"})
    simulator = app.extensions["example_simulator"]
    try:
        url = simulator.service(embedded.EXAMPLE_SERVICE_ID)["callbacks"]["delivery_status"]["url"]
        assert url == "http://127.0.0.1:8080/notify-hooks/notify"
    finally:
        simulator.stop()


WELCOME, RESET = "11111111-2a88-4f6e-b855-c550268ce08a", "22222222-6bd5-4dbc-bc1e-7b02e4c4bd0c"
KEY = "yourname-test-localdev-00000000-0000-0000-0000-000000000000-00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("config", "environ"),
    [
        ({"DM_ENVIRONMENT": "development", "DM_NOTIFY_KEY": KEY}, {}),
        ({}, {"DM_NOTIFY_API_KEY": KEY}),  # the alias, from the environment
        ({"DM_ENVIRONMENT": "test"}, {}),
        ({"TESTING": True}, {}),  # the extension's default stage for a testing app
        ({"EXAMPLE_EMBEDDED_SIMULATOR": False}, {}),  # tests that bring their own simulator
        ({}, {"EXAMPLE_EMBEDDED_SIMULATOR": "false"}),
    ],
)
def test_no_simulator_with_a_key_off_development_or_when_turned_off(
    config: dict[str, Any], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = create_app({"EXAMPLE_SIMULATOR_PORT": 0, **config})
    assert "example_simulator" not in app.extensions
    assert app.config["EXAMPLE_INBOX_URL"] is None


def test_a_key_in_dotenv_counts_as_a_key_and_its_templates_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"DM_NOTIFY_KEY={KEY}\nDM_NOTIFY_TEMPLATES=welcome={WELCOME},password-reset={RESET}\n")
    monkeypatch.setenv("DM_DOTENV_PATH", str(dotenv))
    app = create_app({"EXAMPLE_SIMULATOR_PORT": 0})
    assert "example_simulator" not in app.extensions
    settings = app.extensions["dm_email"].settings
    assert settings.notify_key == KEY and settings.backend == "notify"
    assert dict(settings.templates) == {"welcome": WELCOME, "password-reset": RESET}


def test_apps_on_one_port_share_one_simulator_and_token(fixed_port: int) -> None:
    first = create_app({**DEV, "EXAMPLE_SIMULATOR_PORT": fixed_port})
    second = create_app({**DEV, "EXAMPLE_SIMULATOR_PORT": fixed_port})
    assert first.extensions["example_simulator"] is second.extensions["example_simulator"]
    assert first.config["DM_NOTIFY_CALLBACK_TOKEN"] == second.config["DM_NOTIFY_CALLBACK_TOKEN"]
    assert first.config["DM_NOTIFY_BASE_URL"] == f"http://127.0.0.1:{fixed_port}"


def test_a_busy_port_falls_back_to_a_free_one(fixed_port: int, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", fixed_port))
        busy.listen()
        app = create_app({**DEV, "EXAMPLE_SIMULATOR_PORT": fixed_port})
    simulator = app.extensions["example_simulator"]
    assert simulator.url != f"http://127.0.0.1:{fixed_port}"
    assert requests.get(f"{simulator.url}/_status", timeout=5).status_code == 200
    assert f"Port {fixed_port} is busy" in caplog.text


def test_reloader_children_use_the_parents_simulator(fixed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``flask run --debug``: the parent starts the simulator; each reloaded child reuses it."""
    parent = create_app({**DEV, "EXAMPLE_SIMULATOR_PORT": fixed_port})
    handover = json.loads(embedded.os.environ[embedded.HANDOVER_VARIABLE])
    assert handover["url"] == parent.config["DM_NOTIFY_BASE_URL"]

    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")  # what the reloader sets in its children
    embedded._running.clear()  # a child process starts with nothing running
    child = create_app({**DEV, "EXAMPLE_SIMULATOR_PORT": fixed_port})
    assert "example_simulator" not in child.extensions  # did not start (nor bind) another
    for key in ("DM_NOTIFY_KEY", "DM_NOTIFY_BASE_URL", "DM_NOTIFY_CALLBACK_TOKEN", "EXAMPLE_INBOX_URL"):
        assert child.config[key] == parent.config[key]
    embedded._running[fixed_port] = (parent.extensions["example_simulator"], None)  # type: ignore[assignment]
