"""A notice to every active user, sent as one bulk batch: the form, its progress page,
the accounts page's list of notices and ``flask send-notice``.

The test-client tests run on the ``test`` stage (memory backend); the whole loop runs over
real HTTP against the embedded simulator, with the test draining the outbox.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from example_app import dm_email, embedded
from example_app.models import User, db
from example_app.notices import active_recipients
from flask_dm_email import OutgoingEmail

from .conftest import LiveExample, drain, submit

REFRESH = '<meta http-equiv="refresh" content="2">'
ACTIVE = ("ada@digital.cabinet-office.gov.uk", "bo@digital.cabinet-office.gov.uk", "cy@digital.cabinet-office.gov.uk")
INACTIVE = "dee@digital.cabinet-office.gov.uk"


def add_users(inactive: str = INACTIVE) -> None:
    """The three active users, and one deactivated (as a permanent failure would leave it)."""
    for address in (*ACTIVE, inactive):
        db.session.add(User(name=address.split("@")[0].title(), email_address=address, active=address != inactive))
    db.session.commit()


def count(page: str, what: str) -> int:
    """A count tag's number (``<strong ... data-count="delivered">3 delivered</strong>``)."""
    match = re.search(rf'data-count="{what}">(\d+) {what}<', page)
    assert match, f"no {what} count on the page"
    return int(match.group(1))


# -- the form, on the test stage -----------------------------------------------------------


def test_the_notice_goes_to_every_active_user_once(
    app: Flask, client: FlaskClient, sent_emails: list[OutgoingEmail]
) -> None:
    add_users()
    form = client.get("/notices/new").get_data(as_text=True)
    assert re.search(r'name="batch" value="notice-\d{8}-\d{6}-[0-9a-f]{4}"', form)  # a name made up for the admin
    response = submit(client, "/notices/new", {"notice": "The service closes on Friday.", "batch": "closing-1"})
    assert response.status_code == 302 and response.location == "/notices/closing-1"
    page = client.get("/notices/closing-1").get_data(as_text=True)
    assert "Batch closing-1: the notice is queued for 3 users." in page
    assert count(page, "queued") == 3 and REFRESH in page
    assert drain(app) == 3
    assert sorted(email.to for email in sent_emails) == sorted(ACTIVE)  # not the inactive user
    assert {email.template_name for email in sent_emails} == {"notice"}
    # The worker's threads send in any order: each user's own email carries their own name.
    assert {email.to: email.personalisation for email in sent_emails} == {
        address: {"name": address.split("@")[0].title(), "notice": "The service closes on Friday."}
        for address in ACTIVE
    }

    # The same batch again: nobody gets it twice, and the page says so.
    again = submit(client, "/notices/new", {"notice": "The service closes on Friday.", "batch": "closing-1"})
    page = client.get(again.location).get_data(as_text=True)
    assert "the notice is queued for 0 users. 3 already had it queued in this batch" in page
    assert drain(app) == 0 and len(sent_emails) == 3
    assert dm_email.outbox.batch("closing-1").total == 3  # type: ignore[union-attr]


def test_form_errors_are_listed_and_tied_to_their_fields(client: FlaskClient) -> None:
    add_users()
    response = submit(client, "/notices/new", {"notice": "  ", "batch": "spring notice!"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<title>Error: Send a notice to all users" in page
    assert 'href="#notice">Enter the notice</a>' in page
    assert 'href="#batch">Batch name must start with a letter or number' in page
    assert 'aria-describedby="notice-hint notice-error" aria-invalid="true"' in page
    assert 'value="spring notice!"' in page  # the form keeps what was typed
    too_long = submit(client, "/notices/new", {"notice": "x" * 2001, "batch": "ok"})
    assert "Notice must be 2,000 characters or fewer" in too_long.get_data(as_text=True)
    assert dm_email.outbox.counts() == {}


def test_a_cancelled_batch_is_refused_with_the_reason(client: FlaskClient) -> None:
    add_users()
    submit(client, "/notices/new", {"notice": "One", "batch": "stopped"})
    assert dm_email.outbox.cancel_batch("stopped") == 3
    response = submit(client, "/notices/new", {"notice": "One", "batch": "stopped"})
    assert response.status_code == 400
    assert "was cancelled" in response.get_data(as_text=True)
    assert dm_email.outbox.counts() == {"cancelled": 3}


def test_the_form_needs_its_csrf_token(client: FlaskClient) -> None:
    add_users()
    client.get("/notices/new")
    response = client.post("/notices/new", data={"notice": "Hello", "batch": "forged"})
    assert response.status_code == 400 and "Your session has expired" in response.get_data(as_text=True)
    assert dm_email.outbox.counts() == {}


def test_an_unknown_batch_is_a_404_that_does_not_repeat_the_name(client: FlaskClient) -> None:
    response = client.get("/notices/someone@example.com")
    assert response.status_code == 404
    assert "someone@example.com" not in response.get_data(as_text=True)


def test_users_are_read_a_page_at_a_time(app: Flask) -> None:
    """Keyset pages: every active user once, in order, whatever the page size."""
    for number in range(7):
        db.session.add(User(name=f"User {number}", email_address=f"u{number}@gov.uk", active=number != 3))
    db.session.commit()
    statements: list[str] = []

    def seen(conn: object, cursor: object, sql: str, *args: object) -> None:
        statements.append(sql)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        rows = list(active_recipients("Hi", page_size=2))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert [row["email_address"] for row in rows] == [f"u{n}@gov.uk" for n in (0, 1, 2, 4, 5, 6)]
    assert rows[0] == {"email_address": "u0@gov.uk", "name": "User 0", "notice": "Hi"}
    assert len([sql for sql in statements if "FROM user" in sql]) == 4  # 2 + 2 + 2 + an empty page


def test_send_notice_command_shares_the_view_s_code(app: Flask) -> None:
    add_users()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["send-notice", "--batch", "cli-1", "--text", "From the command line"])
    assert first.exit_code == 0, first.output
    assert "Batch cli-1: 3 queued, 0 already queued, 0 invalid." in first.output
    assert "Progress: http://127.0.0.1:5000/notices/cli-1" in first.output
    again = runner.invoke(args=["send-notice", "--batch", "cli-1", "--text", "From the command line"])
    assert "Batch cli-1: 0 queued, 3 already queued, 0 invalid." in again.output
    bad = runner.invoke(args=["send-notice", "--batch", "no spaces", "--text", "x"])
    assert bad.exit_code != 0 and "batch must be a name" in bad.output
    for output in (first.output, again.output):
        assert "@" not in output  # counts only, never an address


# -- the whole loop over HTTP, against the simulator -----------------------------------------


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.2)


def test_a_notice_batch_delivered_through_the_simulator(
    example_without_worker: LiveExample, caplog: pytest.LogCaptureFixture
) -> None:
    example = example_without_worker
    with example.app.app_context():
        add_users()
    session = requests.Session()
    text = "The service will be closed on Saturday for maintenance."
    with caplog.at_level(logging.INFO):
        response = example.submit("/notices/new", {"notice": text, "batch": "maintenance-1"}, session)
    assert response.url == f"{example.url}/notices/maintenance-1"
    assert "the notice is queued for 3 users" in response.text and REFRESH in response.text
    assert count(response.text, "queued") == 3

    def notices() -> list[dict[str, object]]:
        return example.simulator.messages(template_id=embedded.NOTICE_TEMPLATE_ID)

    assert example.drain() == 3
    wait_for(lambda: count(session.get(f"{example.url}/notices/maintenance-1").text, "delivered") == 3)
    page = session.get(f"{example.url}/notices/maintenance-1").text
    assert REFRESH not in page  # every email final: the page stops refreshing itself
    assert "3 of 3" in page and 'href="/_dm_email/?batch=maintenance-1"' in page
    sent = notices()
    assert sorted(str(message["to"]) for message in sent) == sorted(ACTIVE)  # one each; none to the inactive user
    assert all(text in str(message["body"]) for message in sent)
    assert {message["status"] for message in sent} == {"delivered"}

    # The same batch again adds nothing.
    again = example.submit("/notices/new", {"notice": text, "batch": "maintenance-1"}, session)
    assert "queued for 0 users. 3 already had it queued in this batch" in again.text
    assert example.drain() == 0 and len(notices()) == 3

    accounts = session.get(f"{example.url}/accounts").text
    assert 'href="/notices/maintenance-1"' in accounts and count(accounts, "delivered") == 3
    for address in (*ACTIVE, INACTIVE):  # no address in the logs
        assert address not in caplog.text
    assert "Notice batch maintenance-1: 3 queued, 0 already queued, 0 invalid" in caplog.text


def test_a_blank_batch_name_gets_one_made_up(client: FlaskClient) -> None:
    add_users()
    response = submit(client, "/notices/new", {"notice": "Hello", "batch": ""})
    assert response.status_code == 302
    assert re.fullmatch(r"/notices/notice-\d{8}-[0-9a-f]{8}", response.location)
    assert "queued for 3 users" in client.get(response.location).get_data(as_text=True)
    accounts = client.get("/accounts").get_data(as_text=True)
    assert f'href="{response.location}"' in accounts and count(accounts, "queued") == 3
    # A second notice in the same second is a batch of its own, sent to everyone too.
    second = submit(client, "/notices/new", {"notice": "Hello again", "batch": ""})
    assert second.location != response.location
    assert "queued for 3 users" in client.get(second.location).get_data(as_text=True)
    # The first form sent again (a double click, a retry after a timeout): nobody gets it twice.
    again = submit(client, "/notices/new", {"notice": "Hello", "batch": ""})
    assert again.location == response.location
    assert "3 already had it queued in this batch" in client.get(again.location).get_data(as_text=True)
    with client.application.app_context():
        assert dm_email.outbox.batch(response.location.rsplit("/", 1)[1]).total == 3  # type: ignore[union-attr]


def test_the_command_needs_a_batch_name_so_a_rerun_sends_nobody_the_notice_twice(app: Flask) -> None:
    add_users()
    missing = app.test_cli_runner().invoke(args=["send-notice", "--text", "Closed on Friday"])
    assert missing.exit_code == 2 and "--batch" in missing.output
    with app.app_context():
        assert dm_email.outbox.batches(10) == []
