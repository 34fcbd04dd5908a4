"""With the outbox on, a synchronous send_email writes its row too: every email is in one
place, and an unclear outcome is settled by the worker, never lost, never doubled."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_dm_email import DMEmail, EmailOutcomeUnknownError, EmailTemplateError, send_email
from flask_dm_email.outbox import states

from .conftest import TIMEOUT


def rows(app: Flask) -> list[Any]:
    return list(DMEmail.outbox.find())


def test_a_sent_email_has_its_row(make_outbox_app: Callable[..., Flask], sim: Any) -> None:
    app = make_outbox_app()
    with app.app_context():
        result = send_email("someone@gov.uk", "welcome", {"name": "A"})
        [row] = rows(app)
    assert row.status == states.SENT and row.notify_id == result.id
    assert row.notify_reference == result.reference  # what Notify got: the caller's reference


def test_a_refused_email_has_a_failed_row(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context(), pytest.raises(EmailTemplateError):
        send_email("someone@gov.uk", "welcome")  # missing personalisation: Notify's 400
    with app.app_context():
        [row] = rows(app)
    assert row.status == states.FAILED and row.last_error_class == "BadRequestError"


def test_an_unclear_send_is_settled_by_the_worker_once(make_outbox_app: Callable[..., Flask], sim: Any) -> None:
    app = make_outbox_app(DM_NOTIFY_RETRY_DEADLINE=0)
    sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 0.5, hang_when="before_store")
    with app.app_context():
        with pytest.raises(EmailOutcomeUnknownError):
            send_email("someone@gov.uk", "welcome", {"name": "A"})
        [row] = rows(app)
        assert row.status == states.RETRYING
        time.sleep(2.2)  # the in-flight bound in these tests
        DMEmail.outbox.drain()
        [row] = rows(app)
    assert row.status == states.SENT
    assert len([m for m in sim.messages() if m["reference"] == row.reference]) == 1


def test_allow_resend_false_finds_the_earlier_email_and_writes_no_row(
    make_outbox_app: Callable[..., Flask], sim: Any
) -> None:
    app = make_outbox_app()
    with app.app_context():
        first = send_email("someone@gov.uk", "welcome", {"name": "A"})
        again = send_email("someone@gov.uk", "welcome", {"name": "A"}, allow_resend=False)
        assert again.already_sent and again.id == first.id
        assert len(rows(app)) == 1


def test_the_email_matters_more_than_its_record(
    sim: Any, template_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    app.config.update(
        DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify", DM_NOTIFY_KEY=sim.create_api_key(key_type="test"),
        DM_NOTIFY_BASE_URL=sim.url, DM_NOTIFY_TEMPLATES={"welcome": template_id},
        DM_EMAIL_OUTBOX_URL="sqlite:////nonexistent-dir/outbox.sqlite3",  # cannot be opened
    )
    DMEmail(app)
    with app.app_context(), caplog.at_level(logging.ERROR, "flask_dm_email.outbox"):
        result = send_email("someone@gov.uk", "welcome", {"name": "A"})
    assert [m["id"] for m in sim.messages()] == [result.id]
    assert any("sending it anyway" in r.getMessage() for r in caplog.records)
    assert all("someone@gov.uk" not in r.getMessage() for r in caplog.records)


def test_off_means_no_outbox_and_no_row(make_app: Callable[..., Flask]) -> None:
    app = make_app(DM_ENVIRONMENT="test", DM_EMAIL_OUTBOX_URL="off",
                   DM_NOTIFY_TEMPLATES={"welcome": "f33517ff-2a88-4f6e-b855-c550268ce08a"})
    assert app.extensions["dm_email"].outbox is None
    with app.app_context():
        assert send_email("someone@gov.uk", "welcome").backend == "memory"
