"""The example app's pages with Flask's test client, on the test stage (memory backend)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from example_app.models import SentEmailRecord, User, db
from flask_dm_email import OutgoingEmail

from .conftest import submit


def test_the_home_page_links_every_page(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    for path in ("/signup", "/password-reset", "/accounts"):
        assert f'href="{path}"' in page
    assert 'lang="en"' in page and 'href="#main"' in page
    assert "inbox-link" not in page  # no simulator on this app: no inbox to link to


def test_signup_sends_the_welcome_email_by_template_name(
    client: FlaskClient, sent_emails: list[OutgoingEmail]
) -> None:
    response = submit(client, "/signup", {"name": "Alex", "email": " Alex@Example.com "})
    assert response.status_code == 302 and response.location == "/accounts"
    [email] = sent_emails
    assert email.template_name == "welcome"
    assert email.to == "success@simulator.amazonses.com" and email.redirected
    assert email.personalisation["name"] == "Alex"
    assert email.personalisation["link"] == "http://localhost/"
    user = User.query.one()
    assert user.email_address == "alex@example.com" and user.active
    [record] = SentEmailRecord.query.all()
    assert (record.user_id, record.template, record.redirected) == (user.id, "welcome", True)
    page = client.get("/accounts").get_data(as_text=True)
    assert "Account created. We sent you a welcome email." in page
    assert "welcome (redirected to the safe address)" in page


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
    assert sent_emails == [] and User.query.count() == 0


def test_one_account_per_address(client: FlaskClient, sent_emails: list[OutgoingEmail]) -> None:
    submit(client, "/signup", {"name": "Alex", "email": "alex@example.com"})
    response = submit(client, "/signup", {"name": "Alex", "email": "ALEX@example.com"})
    assert response.status_code == 400
    assert "An account with this email address already exists" in response.get_data(as_text=True)
    assert len(sent_emails) == 1


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, sent_emails: list[OutgoingEmail]) -> None:
    client.get("/signup")  # a session, but the post does not carry its token
    for data in ({"name": "Eve", "email": "eve@example.com"}, {"name": "Eve", "csrf_token": "forged"}):
        response = client.post("/signup", data=data)
        assert response.status_code == 400
        assert "Your session has expired" in response.get_data(as_text=True)
    assert client.post("/password-reset", data={"email": "eve@example.com"}).status_code == 400
    assert sent_emails == [] and User.query.count() == 0


def test_password_reset_emails_a_link_that_works_only_for_an_active_account(
    app: Flask, client: FlaskClient, sent_emails: list[OutgoingEmail]
) -> None:
    submit(client, "/signup", {"name": "Sam", "email": "sam@gov.uk"})
    for address in ("SAM@gov.uk", "nobody@gov.uk"):
        response = submit(client, "/password-reset", {"email": address})
        assert response.status_code == 302
        # The same answer either way: the page does not reveal which addresses have accounts.
        assert "If an active account uses that address" in client.get("/accounts").get_data(as_text=True)
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
    assert len(sent_emails) == 2  # no reset email for an inactive account


def test_the_accounts_page_starts_empty(client: FlaskClient) -> None:
    assert "No accounts yet." in client.get("/accounts").get_data(as_text=True)
