"""The example app end to end on its embedded simulator, over real HTTP: pages, the
outbox (delivered by the embedded worker, as under ``flask run``, or drained by the test),
receipts, deactivation, password reset, the inbox link, and ``flask demo`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from example_app import dm_email
from example_app.models import AuditEvent, User

from .conftest import LiveExample

ROOT = Path(__file__).resolve().parents[2]
REFRESH = '<meta http-equiv="refresh" content="2">'


def delivery_status(page: str) -> str:
    """The newest account's delivery-status tag: its outbox status and its label."""
    cell = page.split('class="delivery-status">', 1)[1].split("</td>", 1)[0]
    status = cell.split('data-status="', 1)[1].split('"', 1)[0]
    label = cell.split(">", 1)[1].split("<", 1)[0]
    return f"{status}: {label}"


def test_the_embedded_simulator_is_used_without_a_key(example: LiveExample) -> None:
    settings = example.app.extensions["dm_email"].settings
    assert settings.backend == "notify"
    assert settings.notify_base_url == example.simulator.url
    assert len(settings.callback_tokens) == 1
    assert settings.outbox.location == "sqlalchemy"  # in the example's own database


def test_signup_queues_a_welcome_email_that_the_worker_delivers(example: LiveExample) -> None:
    """As under ``flask run``: the embedded worker sends it, the receipt comes back."""
    response = example.submit("/signup", {"name": "Alex", "email": "alex@example.com"})
    assert response.status_code == 200
    assert "Account created. We are sending you a welcome email." in response.text
    delivered = example.wait_for_status("alex@example.com", "notify-delivered")
    assert delivered.template_name == "welcome" and delivered.redirected and delivered.notify_id
    [message] = example.simulator.messages()
    assert message["id"] == delivered.notify_id
    assert message["email_address"] == "success@simulator.amazonses.com"  # redirected
    assert message["subject"] == "Welcome to the example service, Alex"
    page = requests.get(f"{example.url}/accounts", timeout=5).text
    assert "welcome (redirected to the safe address)" in page
    assert delivery_status(page) == "notify-delivered: delivered"
    assert REFRESH not in page  # nothing in flight any more


def test_the_accounts_page_follows_the_email_from_queued_to_delivered(example_without_worker: LiveExample) -> None:
    """Step by step, with the test as the worker: queued, sent to Notify, delivered."""
    example = example_without_worker
    example.submit("/signup", {"name": "Alex", "email": "alex@example.com"})
    accounts = f"{example.url}/accounts"
    page = requests.get(accounts, timeout=5).text
    assert delivery_status(page) == "queued: queued" and REFRESH in page
    assert example.simulator.messages() == []  # nothing is sent in the request
    assert example.drain() == 1
    [sent] = example.emails("alex@example.com")
    assert sent.status in ("sent-to-notify", "notify-delivered")  # the receipt may already be back
    example.wait_for_status("alex@example.com", "notify-delivered")
    page = requests.get(accounts, timeout=5).text
    assert delivery_status(page) == "notify-delivered: delivered" and REFRESH not in page
    with example.app.app_context():
        kinds = [e["type"] for e in dm_email.outbox.events(sent.id)]
    assert kinds[0] == "queued" and "sent" in kinds and kinds[-1] == "receipt"


def test_signup_validation(example: LiveExample) -> None:
    response = example.submit("/signup", {"name": "", "email": "nope"})
    assert response.status_code == 400
    assert "Enter your name" in response.text
    assert "Enter an email address in the correct format" in response.text
    assert example.simulator.messages() == []
    with example.app.app_context():
        assert User.query.count() == 0


def test_a_permanent_failure_deactivates_the_account_once(example: LiveExample) -> None:
    example.submit("/signup", {"name": "Kim", "email": "perm-fail@simulator.notify"})
    email = example.wait_for_status("perm-fail@simulator.notify", "notify-permanent-failure")
    # The row moves before the deactivation hook commits: wait until the callback has
    # been answered, so the hook's work is done.
    attempt = example.simulator.wait_for_callbacks(1, result="ok")[0]
    with example.app.app_context():
        user = User.query.filter_by(email_address="perm-fail@simulator.notify").one()
        assert user.active is False
        assert AuditEvent.query.filter_by(user_id=user.id).count() == 1
        # The same receipt again (Notify may repeat one): nothing changes.
    again = requests.post(
        f"{example.url}/callbacks/notify",
        data=attempt["payload"],
        headers={"Authorization": f"Bearer {example.app.extensions['dm_email'].settings.callback_tokens[0]}"},
        timeout=5,
    )
    assert again.status_code == 200
    with example.app.app_context():
        assert AuditEvent.query.count() == 1
    [still] = example.emails("perm-fail@simulator.notify")
    assert (still.id, still.status) == (email.id, "notify-permanent-failure")
    page = requests.get(f"{example.url}/accounts", timeout=5).text
    assert "inactive" in page
    assert delivery_status(page) == "notify-permanent-failure: permanent failure"


def test_password_reset_sends_a_working_link_without_revealing_accounts(example: LiveExample) -> None:
    example.submit("/signup", {"name": "Sam", "email": "sam@gov.uk"})
    for address in ("sam@gov.uk", "nobody@gov.uk"):
        response = example.submit("/password-reset", {"email": address})
        assert "If an active account uses that address" in response.text
    reset = example.wait_for_status("sam@gov.uk", "notify-delivered")
    assert reset.template_name == "password-reset"
    assert [e.template_name for e in example.emails("sam@gov.uk")] == ["password-reset", "welcome"]
    messages = [m for m in example.simulator.messages() if m["subject"] == "Reset your password"]
    assert len(messages) == 1
    link = next(word for word in messages[0]["body"].split() if "/reset/" in word)
    assert "Choose a new password" in requests.get(link, timeout=5).text


def test_the_inbox_link_shows_the_email(example: LiveExample) -> None:
    page = requests.get(f"{example.url}/", timeout=5).text
    assert f'href="{example.simulator.url}/_simulator/inbox"' in page
    example.submit("/signup", {"name": "Alex", "email": "alex@example.com"})
    example.wait_for_status("alex@example.com", "notify-delivered")
    inbox = requests.get(f"{example.simulator.url}/_simulator/inbox", timeout=5).text
    assert "Welcome to the example service, Alex" in inbox


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``flask --app example_app demo`` in a subprocess, as a newcomer runs it."""
    flask = Path(sys.executable).with_name("flask")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DM_", "EXAMPLE_"))},
        "DM_DOTENV_PATH": str(tmp_path / "none.env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'example.db'}",
        "EXAMPLE_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
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
    assert out.count(" queued\n") == 3  # each sign-up queued its welcome email
    assert out.count("sent to Notify, ") == 3 and out.count("Notify id ") == 3
    assert "redirected to the safe address" in out
    assert "3 of 3 receipts" in out
    assert "ok   Alex: email notify-delivered, account active" in out
    assert "ok   Sam: email notify-temporary-failure, account active" in out
    assert (
        "ok   Kim: email notify-permanent-failure, account inactive (deactivated by the user_deactivator hook)" in out
    )
    assert "The whole loop worked." in out
    # Quiet by default: the demo's lines, not the log lines of each send and receipt.
    assert "INFO" not in out and "in callbacks" not in result.stderr and "in extension" not in result.stderr
    assert "success@simulator.amazonses.com" not in out


def test_flask_demo_says_so_and_exits_1_when_the_loop_does_not_close(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--timeout", "0")  # delivered to Notify, but no time for any receipt
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL Kim: email sent-to-notify, account active" in result.stdout
    assert "Something in the loop did not happen." in result.stdout
