"""``flask dm-email report export`` and ``report summary`` over a real outbox: every
send, receipt and failure reported once, hashed addresses only."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.outbox.sync import sync_statuses

from ..test_cli import factory_for, run


@pytest.fixture
def reported(sim: Any, template_id: str, outbox_url: str) -> Any:
    """An outbox (SQLite, then PostgreSQL) with 3 delivered emails, 1 bounce and 1 failed send."""
    factory = factory_for(
        DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify", DM_NOTIFY_KEY=sim.api_key("test"), DM_NOTIFY_BASE_URL=sim.url,
        DM_NOTIFY_CALLBACKS_ENABLED=False, DM_NOTIFY_TEMPLATES={"welcome": template_id, "gone": str(uuid.uuid4())},
        DM_EMAIL_OUTBOX_URL=outbox_url, DM_EMAIL_RETRY_SCHEDULE="0",
    )
    app = factory()
    with app.app_context():
        DMEmail.outbox.create_tables()
        for n in range(3):
            queue_email(f"person-{n}@example.gov.uk", "welcome", {"name": "A"})
        queue_email("perm-fail@simulator.notify", "welcome", {"name": "A"})
        queue_email("someone@example.gov.uk", "gone", {"name": "A"})  # Notify: no such template
        DMEmail.outbox.drain(timeout=20)
        time.sleep(0.5)
        sync_statuses(app)
    return factory


def test_export_reports_each_outcome_once_without_addresses(reported: Any) -> None:
    result = run(reported, "report", "export", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    kinds = sorted(row["type"] for row in rows)
    assert kinds == ["delivered"] * 3 + ["failed", "permanent-failure"] + ["sent"] * 4
    assert all(len(row["to_hash"]) == 44 for row in rows)  # hashed
    assert "@" not in result.stdout and "person-" not in result.stdout
    failed = next(row for row in rows if row["type"] == "failed")
    assert (failed["template"], failed["http_status"], failed["error_class"]) == ("gone", "400", "BadRequestError")

    jsonl = run(reported, "report", "export", "--format", "jsonl", "--types", "permanent-failure,failed")
    assert sorted(json.loads(line)["type"] for line in jsonl.stdout.splitlines()) == ["failed", "permanent-failure"]


def test_since_and_until_are_utc_days(reported: Any) -> None:
    today = datetime.now(UTC).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert run(reported, "report", "export", "--since", tomorrow).stdout.count("\n") == 1  # the header only
    assert run(reported, "report", "export", "--until", today.isoformat()).stdout.count("\n") == 1
    assert run(reported, "report", "export", "--since", today.isoformat()).stdout.count("\n") == 10


def test_summary_by_day_and_by_template(reported: Any) -> None:
    by_day = run(reported, "report", "summary")
    assert by_day.exit_code == 0
    header, line = by_day.stdout.splitlines()
    assert header.split() == ["day", "sent", "delivered", "permanent-failure", "temporary-failure",
                              "technical-failure", "complaint", "failed"]
    assert line.split() == [datetime.now(UTC).date().isoformat(), "4", "3", "1", "0", "0", "0", "1"]
    by_template = run(reported, "report", "summary", "--by", "template").stdout.splitlines()
    assert [row.split()[:3] for row in by_template[1:]] == [["gone", "0", "0"], ["welcome", "4", "3"]]


def test_bad_options_are_named(reported: Any) -> None:
    bad_type = run(reported, "report", "export", "--types", "sent,bounced")
    assert bad_type.exit_code == 2 and "unknown bounced" in bad_type.output
    bad_day = run(reported, "report", "summary", "--since", "yesterday")
    assert bad_day.exit_code == 2 and "--since" in bad_day.output and "2026-11-01" in bad_day.output


def test_a_complaint_from_notify_is_reported_once(sim: Any, template_id: str, outbox_url: str) -> None:
    from flask_dm_email.testing import serve_app

    token = "complaint-token-0123456789"
    factory = factory_for(
        DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify", DM_NOTIFY_KEY=sim.api_key("test"), DM_NOTIFY_BASE_URL=sim.url,
        DM_NOTIFY_CALLBACK_TOKEN=token, DM_NOTIFY_TEMPLATES={"welcome": template_id},
        DM_EMAIL_OUTBOX_URL=outbox_url,
    )
    app = factory()
    with app.app_context():
        DMEmail.outbox.create_tables()
        email = queue_email("grumpy@example.gov.uk", "welcome", {"name": "A"})
        DMEmail.outbox.drain(timeout=20)
        notify_id = DMEmail.outbox.get(email.id).notify_id  # type: ignore[union-attr]
    with serve_app(app) as url:
        sim.set_callbacks(complaint=(f"{url}/callbacks/notify/complaints", token))
        sim.trigger_complaint(notify_id)
        sim.trigger_complaint(notify_id)  # Notify may say it twice
        sim.wait_for_callbacks(2, kind="complaint")
    rows = list(csv.DictReader(io.StringIO(run(factory, "report", "export", "--types", "complaint").stdout)))
    assert [(row["type"], row["email_id"]) for row in rows] == [("complaint", email.id)]
    assert "grumpy" not in run(factory, "report", "export").stdout
