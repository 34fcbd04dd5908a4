"""The example app end to end on its embedded simulator, over real HTTP: pages, receipts,
deactivation, password reset, the inbox link, and ``flask demo`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from example_app.models import AuditEvent, SentEmailRecord, User, db

from .conftest import LiveExample

ROOT = Path(__file__).resolve().parents[2]


def wait_for_status(example: LiveExample, address: str, status: str, timeout: float = 10) -> User:
    deadline = time.monotonic() + timeout
    with example.app.app_context():
        while True:
            db.session.expire_all()
            user = User.query.filter_by(email_address=address).one()
            if user.last_email and user.last_email.status == status:
                return user
            assert time.monotonic() < deadline, (
                f"no {status} receipt; last: {user.last_email and user.last_email.status}"
            )
            time.sleep(0.1)


def test_the_embedded_simulator_is_used_without_a_key(example: LiveExample) -> None:
    settings = example.app.extensions["dm_email"].settings
    assert settings.backend == "notify"
    assert settings.notify_base_url == example.simulator.url
    assert len(settings.callback_tokens) == 1


def test_signup_sends_a_welcome_email_and_shows_its_delivery(example: LiveExample) -> None:
    response = example.submit("/signup", {"name": "Alex", "email": "alex@example.com"})
    assert response.status_code == 200
    assert "Account created. We sent you a welcome email." in response.text
    [message] = example.simulator.messages()
    assert message["email_address"] == "success@simulator.amazonses.com"  # redirected
    assert message["subject"] == "Welcome to the example service, Alex"
    wait_for_status(example, "alex@example.com", "delivered")
    page = requests.get(f"{example.url}/accounts", timeout=5).text
    assert "welcome (redirected to the safe address)" in page
    assert ">delivered<" in page


def test_signup_validation(example: LiveExample) -> None:
    response = example.submit("/signup", {"name": "", "email": "nope"})
    assert response.status_code == 400
    assert "Enter your name" in response.text
    assert "Enter an email address in the correct format" in response.text
    assert example.simulator.messages() == []


def test_a_permanent_failure_deactivates_the_account_once(example: LiveExample) -> None:
    example.submit("/signup", {"name": "Kim", "email": "perm-fail@simulator.notify"})
    user = wait_for_status(example, "perm-fail@simulator.notify", "permanent-failure")
    with example.app.app_context():
        user = db.session.get(User, user.id)
        assert user is not None and user.active is False
        assert AuditEvent.query.filter_by(user_id=user.id).count() == 1
        # The same receipt again (Notify may repeat one): nothing changes.
        attempt = example.simulator.wait_for_callbacks(1, result="ok")[0]
    again = requests.post(
        f"{example.url}/callbacks/notify",
        data=attempt["payload"],
        headers={"Authorization": f"Bearer {example.app.extensions['dm_email'].settings.callback_tokens[0]}"},
        timeout=5,
    )
    assert again.status_code == 200
    with example.app.app_context():
        assert AuditEvent.query.count() == 1
    assert "inactive" in requests.get(f"{example.url}/accounts", timeout=5).text


def test_password_reset_sends_a_working_link_without_revealing_accounts(example: LiveExample) -> None:
    example.submit("/signup", {"name": "Sam", "email": "sam@gov.uk"})
    for address in ("sam@gov.uk", "nobody@gov.uk"):
        response = example.submit("/password-reset", {"email": address})
        assert "If an active account uses that address" in response.text
    messages = [m for m in example.simulator.messages() if m["subject"] == "Reset your password"]
    assert len(messages) == 1
    link = next(word for word in messages[0]["body"].split() if "/reset/" in word)
    assert "Choose a new password" in requests.get(link, timeout=5).text
    with example.app.app_context():
        assert SentEmailRecord.query.filter_by(template="password-reset").count() == 1


def test_the_inbox_link_shows_the_email(example: LiveExample) -> None:
    page = requests.get(f"{example.url}/", timeout=5).text
    assert f'href="{example.simulator.url}/_simulator/inbox"' in page
    example.submit("/signup", {"name": "Alex", "email": "alex@example.com"})
    inbox = requests.get(f"{example.simulator.url}/_simulator/inbox", timeout=5).text
    assert "Welcome to the example service, Alex" in inbox


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``flask --app example_app demo`` in a subprocess, as a newcomer runs it."""
    flask = Path(sys.executable).with_name("flask")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DM_", "EXAMPLE_"))},
        "DM_DOTENV_PATH": str(tmp_path / "none.env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "EXAMPLE_SIMULATOR_PORT": "0",  # 6011 may be taken by a developer's `flask run`
    }
    return subprocess.run(
        [str(flask), "--app", "example_app", "demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flask_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("Notify id ") == 3
    assert "redirected to the safe address" in out
    assert "3 of 3 receipts" in out
    assert "ok   Alex: receipt delivered, account active" in out
    assert "ok   Sam: receipt temporary-failure, account active" in out
    assert "ok   Kim: receipt permanent-failure, account inactive (deactivated by the user_deactivator hook)" in out
    assert "The whole loop worked." in out
    # Quiet by default: the demo's lines, not the log lines of each send and receipt.
    assert "INFO" not in out and "in callbacks" not in result.stderr and "in extension" not in result.stderr
    assert "success@simulator.amazonses.com" not in out


def test_flask_demo_says_so_and_exits_1_when_the_loop_does_not_close(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--timeout", "0")  # no time for any receipt
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL Kim: receipt sent to Notify, account active" in result.stdout
    assert "Something in the loop did not happen." in result.stdout
