"""Alerts, over the simulator: what ends up on ``flask_dm_email.alerts`` and the
``outbox_alert`` signal, held back to one per kind per 10 minutes, with no address."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from flask_dm_email import DMEmail, alerts, pacer, queue_email, send_email
from flask_dm_email.outbox.sync import sync_statuses
from flask_dm_email.signals import outbox_alert


def make(sim: Any, template_id: str, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify", DM_NOTIFY_KEY=sim.api_key("test"),
                      DM_NOTIFY_BASE_URL=sim.url, DM_NOTIFY_TEMPLATES={"welcome": template_id},
                      DM_NOTIFY_CALLBACKS_ENABLED=False, DM_EMAIL_RETRY_SCHEDULE="0", **config)
    DMEmail(app)
    return app


@pytest.fixture
def heard(caplog: pytest.LogCaptureFixture) -> Iterator[list[dict[str, Any]]]:
    """Every alert sent, as {"kind": ..., **details}; the log records are in caplog."""
    found: list[dict[str, Any]] = []

    def listen(sender: Flask, kind: str, details: dict[str, Any]) -> None:
        found.append({"kind": kind, **details})

    with outbox_alert.connected_to(listen), caplog.at_level(logging.ERROR, "flask_dm_email.alerts"):
        yield found


def test_a_failed_email_alerts_once_then_counts_what_it_held_back(
    sim: Any, template_id: str, heard: list[dict[str, Any]], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make(sim, template_id)
    missing = str(uuid.uuid4())  # Notify answers 400: no such template
    with app.app_context():
        for n in range(3):
            queue_email(f"person-{n}@example.gov.uk", missing, {"name": "A"})
        DMEmail.outbox.drain(timeout=20)
        assert [a["kind"] for a in heard] == ["failed"]
        monkeypatch.setattr(alerts, "QUIET_SECONDS", 0.0)
        queue_email("person-4@example.gov.uk", missing, {"name": "A"})
        DMEmail.outbox.drain(timeout=20)
    assert [(a["kind"], a["suppressed"]) for a in heard] == [("failed", 0), ("failed", 2)]
    assert heard[0]["status_code"] == 400 and heard[0]["error_class"] == "BadRequestError"
    records = [r for r in caplog.records if r.name == "flask_dm_email.alerts"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.ERROR]
    assert "(2 more since the last alert of this kind)" in records[1].getMessage()
    assert all("@" not in r.getMessage() for r in records)


def test_permanent_failures_over_five_percent_of_the_last_outcomes_alert(
    sim: Any, template_id: str, heard: list[dict[str, Any]]
) -> None:
    app = make(sim, template_id)
    with app.app_context():
        for n in range(18):
            queue_email(f"person-{n}@example.gov.uk", "welcome", {"name": "A"})
        DMEmail.outbox.drain(timeout=20)
        time.sleep(0.5)  # the simulator finishes its deliveries
        assert sync_statuses(app).get("notify-delivered") == 18
        for n in range(2):  # then 2 bounces: 2 of 20, 10 %
            queue_email("perm-fail@simulator.notify", "welcome", {"name": "A"}, reference=f"bounce-{n}")
        DMEmail.outbox.drain(timeout=20)
        time.sleep(0.5)
        moved = sync_statuses(app)
    assert moved.get("notify-permanent-failure") == 2
    [alert] = heard
    assert (alert["kind"], alert["permanent_failures"], alert["outcomes"]) == ("permanent-failures", 2, 20)


def test_emails_due_for_a_minute_with_no_worker_alert_when_the_next_is_queued(
    sim: Any, template_id: str, heard: list[dict[str, Any]]
) -> None:
    app = make(sim, template_id)
    with app.app_context():
        queue_email("person-1@example.gov.uk", "welcome", {"name": "A"})
        assert heard == []  # due now is not stalled
        from flask_dm_email.outbox import watch

        watch.reset()
        runtime = app.extensions["dm_email"].outbox
        with runtime.database.begin() as conn:
            conn.execute(text("UPDATE dm_email_outbox SET next_attempt_at = next_attempt_at - 120"))
        queue_email("person-2@example.gov.uk", "welcome", {"name": "A"})
    [alert] = heard
    assert alert["kind"] == "stalled" and alert["oldest_due_seconds"] >= 119


def test_ninety_percent_of_the_daily_limit_alerts(
    sim: Any, template_id: str, heard: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pacer, "QUOTA_CHECK_EVERY", 0.0)
    app = make(sim, template_id, DM_NOTIFY_DAILY_LIMIT=10, DM_EMAIL_OUTBOX_URL="off")
    with app.app_context():
        for n in range(8):
            send_email(f"person-{n}@example.gov.uk", "welcome", {"name": "A"})
        assert heard == []
        send_email("person-9@example.gov.uk", "welcome", {"name": "A"})
    [alert] = heard
    assert (alert["kind"], alert["daily_used"], alert["daily_limit"]) == ("daily-quota", 9, 10)
