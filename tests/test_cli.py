"""``flask dm-email config`` and ``send-test``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.cli import ScriptInfo

from flask_dm_email import DMEmail
from flask_dm_email.config_keys import KEYS

from .conftest import KEY, TEMPLATE_ID, TOKEN


def run(factory: Callable[[], Flask], *args: str):  # type: ignore[no-untyped-def]
    app = Flask(__name__)  # only for its runner; the command loads the app from `factory`
    runner = app.test_cli_runner()
    from flask_dm_email.cli import dm_email_cli

    return runner.invoke(dm_email_cli, list(args), obj=ScriptInfo(create_app=factory))


def factory_for(**config: object) -> Callable[[], Flask]:
    def create_app() -> Flask:
        app = Flask(__name__)
        app.config.update(config)
        DMEmail(app)
        return app

    return create_app


@pytest.mark.parametrize(
    ("outbox_url", "limiter_url"),
    [
        ("postgresql://dm:s3cretPW@db.internal/app", "redis://:s3cretPW@cache.internal:6379/0"),
        ("postgresql://dm@db.internal/app?password=s3cretPW&sslmode=require",
         "postgresql://dm@db.internal/limits?sslpassword=s3cretPW"),
        # Generated passwords hold characters that end a URL's host part for urllib (and
        # SQLAlchemy still connects with them).
        ("postgresql+psycopg://dm:s3cretPW/9k+z@db.internal:5432/app", "redis://:s3cretPW#tok@cache.internal:6379/0"),
        ("postgresql://dm:s3cretPW?x@db.internal/app", "postgresql://dm:s3cretPW@pw@db.internal/limits"),
        # An @ in the query (Azure's user@server names), a # in a query password.
        ("postgresql://db.internal:5432/app?user=svc@corp&password=s3cretPW",
         "postgresql://dm@db.internal/limits?password=s3cretPW#more"),
    ],
)
def test_config_never_shows_a_database_password(outbox_url: str, limiter_url: str) -> None:
    result = run(
        factory_for(DM_ENVIRONMENT="test", DM_EMAIL_OUTBOX_URL=outbox_url, DM_EMAIL_LIMITER_URL=limiter_url),
        "config",
    )
    assert result.exit_code == 0, result.output
    assert "s3cretPW" not in result.output
    assert "db.internal" in result.output and "<redacted>" in result.output


def test_config_shows_settings_and_sources_without_secrets() -> None:
    result = run(
        factory_for(
            DM_ENVIRONMENT="staging",
            DM_NOTIFY_KEY=KEY,
            DM_NOTIFY_CALLBACK_TOKEN=TOKEN,
            DM_EMAIL_LIMITER_URL="memory",
            DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS="example.com=success@simulator.amazonses.com",
            DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE_ID},
        ),
        "config",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "stage: staging" in out
    assert "backend: notify" in out
    assert "my_key-<redacted>  [config]" in out
    assert "1 token(s) set, <redacted>" in out
    # The safe address is configuration, shown as it is (issue: it used to be hashed).
    assert "'example.com': 'success@simulator.amazonses.com'" in out
    assert "DM_NOTIFY_TIMEOUT" in out and "[default]" in out
    assert KEY[-36:] not in out and TOKEN not in out


@pytest.mark.parametrize("stage", ["development", "staging"])
def test_config_shows_a_value_for_every_key(stage: str) -> None:
    """A new user reads every line: none is blank (or "None")."""
    live = {"DM_NOTIFY_KEY": KEY, "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {}, "DM_EMAIL_LIMITER_URL": "memory"}
    result = run(factory_for(DM_ENVIRONMENT=stage, DM_NOTIFY_CALLBACKS_ENABLED=False, **live), "config")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("DM_")}
    for key in KEYS:
        value = rows[key].split(None, 1)[1].rsplit("[", 1)[0].strip()
        assert value and value != "None", rows[key]


def test_config_lists_every_problem_and_exits_non_zero() -> None:
    result = run(
        factory_for(
            DM_ENVIRONMENT="production", DM_NOTIFY_ALLOWED_RECIPIENTS="@gov.uk", DM_NOTIFY_CALLBACK_TOKEN="short"
        ),
        "config",
    )
    assert result.exit_code == 1
    assert "DM_NOTIFY_KEY: is required on production" in result.output
    assert "DM_NOTIFY_ALLOWED_RECIPIENTS: is refused on production" in result.output
    assert "DM_NOTIFY_CALLBACK_TOKEN: each token must be at least 10 characters" in result.output
    assert "Traceback" not in result.output
    assert "short" not in result.output.replace("shorter", "")


def test_send_test_reports_the_result_without_the_address() -> None:
    result = run(
        factory_for(
            DM_ENVIRONMENT="development",
            DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE_ID},
            DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS="example.com=success@simulator.amazonses.com",
        ),
        "send-test",
        "--to",
        "Tester@example.com",
        "--template",
        "welcome",
        "-p",
        "name=Alex",
    )
    assert result.exit_code == 0, result.output
    assert "backend: log" in result.output
    assert "recipient rewritten: yes (domain example.com is in DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS)" in result.output
    assert "reference: " in result.output and "notify id: " in result.output
    assert "Tester@example.com" not in result.output


def test_send_test_reports_errors_cleanly() -> None:
    result = run(factory_for(DM_ENVIRONMENT="development"), "send-test", "--to", "nobody", "--template", "welcome")
    assert result.exit_code == 1
    assert "Not sent: EmailTemplateError" in result.output


def test_send_test_bad_personalisation() -> None:
    result = run(
        factory_for(DM_ENVIRONMENT="development"),
        "send-test",
        "--to",
        "a@gov.uk",
        "--template",
        TEMPLATE_ID,
        "-p",
        "novalue",
    )
    assert result.exit_code == 2
    assert "use name=value" in result.output


def _serve_simulator(module: str) -> str:
    """Run ``flask --app module dm-email simulator`` until it answers; its output."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    flask = Path(sys.executable).with_name("flask")
    process = subprocess.Popen(
        [str(flask), "--app", module, "dm-email", "simulator", "--port", str(port)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/_status", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the simulator did not start"
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.2)
        assert response.status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"Notify simulator on http://127.0.0.1:{port}" in output
    assert "Traceback" not in output
    return output


def test_simulator_command_serves_notify_and_prints_no_token() -> None:
    output = _serve_simulator("tests.cli_app")
    assert "Delivery receipts go to http://127.0.0.1:5000/callbacks/notify" in output
    assert "cli-test-token-0123456789" not in output


def test_simulator_command_starts_without_a_callback_token() -> None:
    """It used to end in a traceback (SimulatorConfigError) when the app had no token."""
    output = _serve_simulator("tests.cli_app:create_app_without_token")
    assert "sends receipts with a new one" in output
    assert "DM_NOTIFY_CALLBACK_TOKEN=" in output


def test_commands_in_an_app_without_the_extension_say_what_to_do() -> None:
    def plain_app() -> Flask:
        return Flask(__name__)

    for args in (["config"], ["outbox", "status"], ["send-test", "--to", "a@gov.uk", "--template", "welcome"]):
        result = run(plain_app, *args)
        assert result.exit_code == 1, result.output
        assert "does not use flask-dm-email: call DMEmail().init_app(app)" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
