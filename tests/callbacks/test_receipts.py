"""Delivery receipts: statuses, deactivation with a real database, repeats, failures,
log lines and signals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from flask_dm_email.helpers import hash_string
from flask_dm_email.signals import (
    delivery_receipt_received,
    permanent_failure,
    user_deactivated,
)

from .conftest import ADDRESS, CallbackApp, make_receipt

HASHED = hash_string(ADDRESS)
STATUSES = ["delivered", "permanent-failure", "temporary-failure", "technical-failure"]


def no_address_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert ADDRESS not in text and ADDRESS.lower() not in text


@pytest.mark.parametrize("with_hook", [True, False])
@pytest.mark.parametrize("status", STATUSES)
def test_every_status_is_accepted_and_logged(
    make_callback_app: Callable[..., CallbackApp], caplog: pytest.LogCaptureFixture, status: str, with_hook: bool
) -> None:
    callbacks = make_callback_app(with_hook=with_hook)
    caplog.set_level(logging.INFO, logger="flask_dm_email")
    receipt = make_receipt(status=status)
    response = callbacks.post(receipt)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    line = f"Notify callback: {status}: ref-123 to {HASHED}"
    if status == "permanent-failure" and not with_hook:
        line += "; no user_deactivator is registered, so no account was deactivated"
    # Logged once: at INFO when delivered, at WARNING when it failed (never both, and no
    # second line about the same receipt).
    [record] = [r for r in caplog.records if "ref-123" in r.getMessage()]
    assert record.getMessage() == line
    assert record.levelno == (logging.INFO if status == "delivered" else logging.WARNING)
    expected_extra = {k: v for k, v in receipt.items() if k != "to"}
    assert record.notify_callback == expected_extra  # type: ignore[attr-defined]
    assert record.email_address == HASHED  # type: ignore[attr-defined]
    deactivated = status == "permanent-failure" and with_hook
    assert callbacks.user().active is not deactivated
    assert callbacks.audit_count() == int(deactivated)
    disabled = f"User account disabled for {HASHED} after Notify reported permanent delivery failure."
    assert [r.getMessage() for r in caplog.records].count(disabled) == int(deactivated)
    no_address_anywhere(caplog)


def test_the_hook_gets_the_address_and_the_receipt(callbacks: CallbackApp) -> None:
    callbacks.post(make_receipt(status="permanent-failure"))
    assert callbacks.hook_calls == [ADDRESS]


def test_the_same_receipt_twice_changes_nothing_the_second_time(callbacks: CallbackApp) -> None:
    receipt = make_receipt(status="permanent-failure")
    sent: list[dict[str, Any]] = []
    with user_deactivated.connected_to(lambda sender, **kw: sent.append(kw), callbacks.app):
        assert callbacks.post(receipt).status_code == 200
        assert callbacks.post(receipt).status_code == 200
    assert callbacks.user().active is False
    assert callbacks.audit_count() == 1
    assert len(sent) == 1
    assert sent[0]["email_hash"] == HASHED
    assert sent[0]["receipt"]["id"] == receipt["id"]


def test_a_failing_hook_answers_500_and_a_retry_succeeds(
    callbacks: CallbackApp, caplog: pytest.LogCaptureFixture
) -> None:
    callbacks.hook_failures.append(RuntimeError(f"database is down, could not update {ADDRESS}"))
    receipt = make_receipt(status="permanent-failure")
    failed = callbacks.post(receipt)
    assert failed.status_code == 500
    assert failed.get_json()["status"] == "error"
    assert "Notify will retry" in failed.get_json()["message"]
    assert callbacks.user().active is True
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "RuntimeError" in errors[0].getMessage()
    assert HASHED in errors[0].getMessage()
    no_address_anywhere(caplog)
    assert callbacks.post(receipt).status_code == 200
    assert callbacks.user().active is False
    assert callbacks.audit_count() == 1


def test_a_status_notify_may_add_later_is_accepted(callbacks: CallbackApp, caplog: pytest.LogCaptureFixture) -> None:
    response = callbacks.post(make_receipt(status="pending-virus-check", new_field={"x": 1}))
    assert response.status_code == 200
    [record] = [r for r in caplog.records if "ref-123" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().endswith("(a status this version does not know; accepted)")


def test_signals(callbacks: CallbackApp) -> None:
    received: list[str] = []
    with (
        delivery_receipt_received.connected_to(lambda s, **kw: received.append("receipt"), callbacks.app),
        permanent_failure.connected_to(lambda s, **kw: received.append("permanent"), callbacks.app),
        user_deactivated.connected_to(lambda s, **kw: received.append("deactivated"), callbacks.app),
    ):
        callbacks.post(make_receipt(status="delivered"))
        callbacks.post(make_receipt(status="permanent-failure"))
    assert received == ["receipt", "receipt", "permanent", "deactivated"]


def test_liveness(callbacks: CallbackApp) -> None:
    response = callbacks.client.get("/callbacks")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_prefix_and_opt_out(make_callback_app: Callable[..., CallbackApp]) -> None:
    moved = make_callback_app(DM_NOTIFY_CALLBACK_PREFIX="/notify-hooks")
    assert moved.post(make_receipt(), path="/notify-hooks/notify").status_code == 200
    assert moved.post(make_receipt()).status_code == 404
    off = make_callback_app(DM_NOTIFY_CALLBACKS_ENABLED="false")
    assert off.client.get("/callbacks").status_code == 404


def test_no_hook_on_a_live_stage_warns_at_init_app(caplog: pytest.LogCaptureFixture) -> None:
    from flask import Flask

    from flask_dm_email import DMEmail

    app = Flask(__name__)
    app.config.update(
        DM_ENVIRONMENT="production",
        DM_NOTIFY_KEY="k-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0",
        DM_NOTIFY_CALLBACK_TOKEN="callback-token-0123456789",
        DM_EMAIL_LIMITER_URL="memory",
    )
    DMEmail(app)
    assert any("No user_deactivator is registered" in r.getMessage() for r in caplog.records)


def test_signal_payloads_carry_what_the_docs_say(callbacks: CallbackApp) -> None:
    """Receipt signals carry Notify's receipt, ``to`` included (receivers act on it);
    ``user_deactivated`` adds the hash for logging."""
    payloads: dict[str, dict[str, Any]] = {}
    with (
        permanent_failure.connected_to(lambda s, **kw: payloads.__setitem__("permanent", kw), callbacks.app),
        user_deactivated.connected_to(lambda s, **kw: payloads.__setitem__("deactivated", kw), callbacks.app),
    ):
        callbacks.post(make_receipt(status="permanent-failure"))
    assert payloads["permanent"]["receipt"]["to"] == ADDRESS
    assert payloads["deactivated"]["receipt"]["to"] == ADDRESS
    assert payloads["deactivated"]["email_hash"] == hash_string(ADDRESS)
