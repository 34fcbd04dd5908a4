"""The example app's pages with Flask's test client, on the test stage (memory backend).

Sign-up and password reset queue their email in the outbox, in the request's own
transaction; nothing is sent until the outbox is drained (on the test stage there is no
worker: :func:`~.conftest.drain` plays it).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event

from example_app import dm_email
from example_app.models import User, db
from example_app.views import STATUS_TAGS
from flask_dm_email import OutgoingEmail
from flask_dm_email.outbox import states

from .conftest import drain, emails_of, make_test_app, submit

REFRESH = '<meta http-equiv="refresh" content="2">'


def test_the_home_page_links_every_page(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    for path in ("/signup", "/password-reset", "/accounts"):
        assert f'href="{path}"' in page
    assert 'lang="en"' in page and 'href="#main"' in page
    assert "inbox-link" not in page  # no simulator on this app: no inbox to link to


def test_signup_queues_the_welcome_email_by_template_name(
    app: Flask, client: FlaskClient, sent_emails: list[OutgoingEmail]
) -> None:
    response = submit(client, "/signup", {"name": "Alex", "email": " Alex@Example.com "})
    assert response.status_code == 302 and response.location == "/accounts"
    user = User.query.one()
    assert user.email_address == "alex@example.com" and user.active
    # Queued, linked to the user, not sent: the request does not wait for Notify.
    assert sent_emails == []
    [queued] = emails_of("alex@example.com")
    assert (queued.status, queued.template_name, queued.redirected) == ("queued", "welcome", True)
    assert queued.link == ("user", str(user.id))
    page = client.get("/accounts").get_data(as_text=True)
    assert "Account created. We are sending you a welcome email." in page
    assert "welcome (redirected to the safe address)" in page
    assert 'data-status="queued">queued</strong>' in page and REFRESH in page

    assert drain(app) == 1
    [email] = sent_emails
    assert email.template_name == "welcome"
    assert email.to == "success@simulator.amazonses.com" and email.redirected
    assert email.personalisation["name"] == "Alex"
    assert email.personalisation["link"] == "http://localhost/"
    [sent] = emails_of("alex@example.com")
    assert sent.id == queued.id and sent.status == "sent-to-notify"
    assert 'data-status="sent-to-notify">sent to Notify</strong>' in client.get("/accounts").get_data(as_text=True)


def test_the_user_and_its_email_are_one_transaction(app: Flask, client: FlaskClient) -> None:
    """Both INSERTs run on one connection with no COMMIT between them, then one COMMIT."""
    engine = db.engine
    log: list[tuple[int, str]] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        log.append((id(conn.connection.dbapi_connection), sql.split("(")[0].strip()))

    def commit(conn: Any) -> None:
        log.append((id(conn.connection.dbapi_connection), "COMMIT"))

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        submit(client, "/signup", {"name": "Alex", "email": "alex@example.com"})
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    writes = [(conn, sql) for conn, sql in log if sql.startswith(("INSERT", "COMMIT", "UPDATE", "DELETE"))]
    connections = {conn for conn, _ in writes}
    assert len(connections) == 1, writes
    assert [sql for _, sql in writes] == [
        "INSERT INTO user",
        "INSERT INTO dm_email_outbox",
        "INSERT INTO dm_email_event",  # the row's "queued" event
        "COMMIT",
    ]


def test_a_failed_commit_keeps_neither_the_user_nor_its_email(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_commit() -> None:
        db.session.flush()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db.session, "commit", broken_commit)
    with pytest.raises(RuntimeError):
        submit(client, "/signup", {"name": "Alex", "email": "alex@example.com"})
    monkeypatch.undo()
    db.session.rollback()
    assert User.query.count() == 0
    assert dm_email.outbox.counts() == {}


def test_a_sign_up_whose_email_is_refused_creates_no_user_and_no_email(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stage's allow-list refuses the address when the email is queued: the whole
    sign-up is rolled back and the form says why."""
    app = make_test_app(tmp_path, DM_NOTIFY_ALLOWED_RECIPIENTS="@digital.cabinet-office.gov.uk")
    client = app.test_client()
    with caplog.at_level(logging.INFO), app.app_context():
        response = submit(client, "/signup", {"name": "Eve", "email": "eve@elsewhere.org"})
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert 'href="#email">We could not send a welcome email to this address' in page
        assert "DM_NOTIFY_ALLOWED_RECIPIENTS" in page
        assert 'value="eve@elsewhere.org"' in page  # the form keeps what was typed
        assert User.query.count() == 0
        assert dm_email.outbox.counts() == {}
        # An allowed address still signs up.
        ok = submit(client, "/signup", {"name": "Ada", "email": "ada@digital.cabinet-office.gov.uk"})
        assert ok.status_code == 302 and User.query.count() == 1
        assert [e.template_name for e in emails_of("ada@digital.cabinet-office.gov.uk")] == ["welcome"]
    assert "Sign-up refused: the welcome email could not be queued (RecipientNotAllowedError)" in caplog.text
    assert "eve@elsewhere.org" not in caplog.text and "ada@" not in caplog.text  # no addresses in logs


def test_signup_errors_are_listed_and_tied_to_their_fields(
    client: FlaskClient, sent_emails: list[OutgoingEmail]
) -> None:
    response = submit(client, "/signup", {"name": "", "email": "name@example"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<title>Error: Sign up" in page
    assert 'href="#name">Enter your name</a>' in page
    assert 'href="#email">Enter an email address in the correct format' in page
    assert 'aria-describedby="name-error" aria-invalid="true"' in page
    assert 'aria-describedby="email-hint email-error"' in page
    assert sent_emails == [] and User.query.count() == 0 and dm_email.outbox.counts() == {}


def test_one_account_per_address(client: FlaskClient) -> None:
    submit(client, "/signup", {"name": "Alex", "email": "alex@example.com"})
    response = submit(client, "/signup", {"name": "Alex", "email": "ALEX@example.com"})
    assert response.status_code == 400
    assert "An account with this email address already exists" in response.get_data(as_text=True)
    assert dm_email.outbox.counts() == {"queued": 1}


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    client.get("/signup")  # a session, but the post does not carry its token
    for data in ({"name": "Eve", "email": "eve@example.com"}, {"name": "Eve", "csrf_token": "forged"}):
        response = client.post("/signup", data=data)
        assert response.status_code == 400
        assert "Your session has expired" in response.get_data(as_text=True)
    assert client.post("/password-reset", data={"email": "eve@example.com"}).status_code == 400
    assert User.query.count() == 0 and dm_email.outbox.counts() == {}


def test_password_reset_emails_a_link_that_works_only_for_an_active_account(
    app: Flask, client: FlaskClient, sent_emails: list[OutgoingEmail]
) -> None:
    submit(client, "/signup", {"name": "Sam", "email": "sam@gov.uk"})
    drain(app)
    for address in ("SAM@gov.uk", "nobody@gov.uk"):
        response = submit(client, "/password-reset", {"email": address})
        assert response.status_code == 302
        # The same answer either way: the page does not reveal which addresses have accounts.
        assert "If an active account uses that address" in client.get("/accounts").get_data(as_text=True)
    reset_row, welcome_row = emails_of("sam@gov.uk")  # linked to the user, newest first
    assert (reset_row.template_name, reset_row.status) == ("password-reset", "queued")
    assert welcome_row.template_name == "welcome"
    assert drain(app) == 1
    _welcome, reset = sent_emails
    assert reset.template_name == "password-reset" and reset.to == "sam@gov.uk"
    link = reset.personalisation["reset_link"]
    assert re.fullmatch(r"http://localhost/reset/[\w.-]+", link)
    assert "Choose a new password" in client.get(link).get_data(as_text=True)
    assert client.get("/reset/not-a-token").status_code == 400

    User.query.one().active = False
    db.session.commit()
    assert "This account is not active" in client.get(link).get_data(as_text=True)
    submit(client, "/password-reset", {"email": "sam@gov.uk"})
    assert len(emails_of("sam@gov.uk")) == 2  # no reset email for an inactive account
    assert drain(app) == 0 and len(sent_emails) == 2


def test_the_accounts_page_starts_empty(client: FlaskClient) -> None:
    page = client.get("/accounts").get_data(as_text=True)
    assert "No accounts yet." in page and REFRESH not in page


def test_every_outbox_status_has_a_label_and_a_tag_colour() -> None:
    assert set(STATUS_TAGS) == set(states.STATUSES)
    labels = [label for label, _ in STATUS_TAGS.values()]
    for expected in ("queued", "sending", "sent to Notify", "delivered", "permanent failure", "temporary failure",
                     "failed to send", "cancelled", "held"):
        assert expected in labels
    assert {colour for _, colour in STATUS_TAGS.values()} <= {
        "grey", "green", "blue", "light-blue", "yellow", "orange", "red"
    }


def test_the_page_stops_refreshing_once_every_email_is_final(app: Flask, client: FlaskClient) -> None:
    submit(client, "/signup", {"name": "Alex", "email": "alex@example.com"})
    assert REFRESH in client.get("/accounts").get_data(as_text=True)
    [queued] = emails_of("alex@example.com")
    dm_email.outbox.cancel(queued.id)  # final: nothing more will happen to it
    page = client.get("/accounts").get_data(as_text=True)
    assert REFRESH not in page
    assert 'class="delivery-status"><strong class="govuk-tag govuk-tag--grey" data-status="cancelled">cancelled' in page


def test_flask_wtf_protects_the_forms_but_not_notify_s_callbacks(app: Flask, client: FlaskClient) -> None:
    """Notify authenticates its receipts with a bearer token, not a session cookie: the
    app-wide CSRF protection must leave the callback blueprint alone."""
    assert isinstance(app.extensions.get("csrf"), CSRFProtect)
    receipt = {
        "id": "740e5834-3a29-46b4-9a6f-16142fde533a", "reference": None, "to": "kim@gov.uk",
        "status": "permanent-failure", "created_at": "2026-11-23T10:00:00.000000Z",
        "completed_at": "2026-11-23T10:00:01.000000Z", "sent_at": "2026-11-23T10:00:00.500000Z",
        "notification_type": "email", "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a", "template_version": 1,
    }
    response = client.post("/callbacks/notify", json=receipt, headers={"Authorization": "Bearer any-token-0123"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert client.post("/signup", data={"name": "Eve", "email": "eve@example.com"}).status_code == 400
