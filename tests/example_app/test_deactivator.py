"""The example's ``user_deactivator`` hook on a real SQLite database, and a permanent
failure's whole path on the test stage: the outbox row it moves, the account it deactivates."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import IntegrityError

from example_app.hooks import deactivate_user
from example_app.models import AuditEvent, User, db
from flask_dm_email.testing import delivery_receipt

from .conftest import drain, emails_of, make_test_app, submit

TOKEN = "example-callback-token-0123"


def receipt(to: str, status: str = "permanent-failure", **extra: Any) -> dict[str, Any]:
    return delivery_receipt(to, status, **extra)


def add_user(address: str, *, active: bool = True) -> User:
    user = User(name="Kim", email_address=address, active=active)
    db.session.add(user)
    db.session.commit()
    return user


def test_deactivates_the_active_user_once_and_audits_it(app: Flask) -> None:
    user = add_user("kim@example.gov.uk")
    bounce = receipt("kim@example.gov.uk")
    assert deactivate_user("kim@example.gov.uk", bounce) is True
    # Notify may send the same receipt again, or a later bounce may follow: nothing more changes.
    assert deactivate_user("kim@example.gov.uk", bounce) is False
    assert deactivate_user("kim@example.gov.uk", receipt("kim@example.gov.uk")) is False
    db.session.expire_all()
    assert db.session.get(User, user.id).active is False
    [event] = AuditEvent.query.all()
    assert (event.user_id, event.notification_id) == (user.id, bounce["id"])
    assert "permanent delivery failure" in event.type


def test_matches_the_address_whatever_its_case(app: Flask) -> None:
    add_user("kim@example.gov.uk")
    assert deactivate_user("Kim@Example.GOV.UK", receipt("Kim@Example.GOV.UK")) is True


def test_unknown_or_already_inactive_addresses_change_nothing(app: Flask) -> None:
    add_user("old@example.gov.uk", active=False)
    other = add_user("other@example.gov.uk")
    assert deactivate_user("nobody@example.gov.uk", receipt("nobody@example.gov.uk")) is False
    assert deactivate_user("old@example.gov.uk", receipt("old@example.gov.uk")) is False
    assert AuditEvent.query.count() == 0
    assert db.session.get(User, other.id).active is True


def test_a_failed_audit_row_leaves_the_user_active(app: Flask) -> None:
    """One transaction: if the audit row cannot be written, the deactivation is undone
    too, and Notify's retry (the blueprint answers 500) redoes both."""
    user = add_user("kim@example.gov.uk")
    with db.engine.begin() as conn:  # the database refuses audit rows for a while
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    with pytest.raises(IntegrityError, match="disk full"):
        deactivate_user("kim@example.gov.uk", receipt("kim@example.gov.uk"))
    db.session.expire_all()
    assert db.session.get(User, user.id).active is True and AuditEvent.query.count() == 0
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_audit")
    assert deactivate_user("kim@example.gov.uk", receipt("kim@example.gov.uk")) is True  # the retry
    db.session.expire_all()
    assert db.session.get(User, user.id).active is False and AuditEvent.query.count() == 1


def test_a_permanent_failure_moves_the_email_and_deactivates_the_account(tmp_path: Path) -> None:
    """Sign up, deliver, and Notify's permanent-failure receipt: the user's outbox row
    becomes notify-permanent-failure and the account inactive, with its audit row."""
    app = make_test_app(tmp_path, DM_NOTIFY_CALLBACK_TOKEN=TOKEN)
    client = app.test_client()
    with app.app_context():
        submit(client, "/signup", {"name": "Kim", "email": "kim@gov.uk"})
        drain(app)
        [sent] = emails_of("kim@gov.uk")
        assert sent.status == "sent-to-notify" and sent.notify_id
        bounce = receipt("kim@gov.uk", id=sent.notify_id, reference=sent.notify_reference)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(2):  # Notify may send a receipt twice: the second changes nothing
            assert client.post("/callbacks/notify", json=bounce, headers=headers).status_code == 200
        [failed] = emails_of("kim@gov.uk")
        assert (failed.id, failed.status) == (sent.id, "notify-permanent-failure")
        user = User.query.one()
        assert user.active is False
        [event] = AuditEvent.query.all()
        assert (event.user_id, event.notification_id) == (user.id, sent.notify_id)
    page = client.get("/accounts").get_data(as_text=True)
    assert 'data-status="notify-permanent-failure">permanent failure</strong>' in page
    assert '<strong class="inactive">inactive</strong>' in page and "permanent delivery failure" in page


def test_the_example_database_runs_sqlite_as_the_outbox_does(app: Flask) -> None:
    """WAL (pages read while another worker writes), synchronous=NORMAL (no fsync per
    commit) and a busy timeout (a second writer waits its turn instead of failing)."""
    with db.engine.connect() as conn:
        pragmas = [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("journal_mode", "synchronous", "busy_timeout")
        ]
    assert pragmas == ["wal", 1, 30_000]


def test_a_second_worker_deactivating_the_same_user_waits_and_changes_nothing(app: Flask) -> None:
    """Two workers, one receipt: the second waits for the first's write lock, then finds
    the user inactive; one audit row."""
    add_user("kim@example.gov.uk")
    other = db.engine.connect()  # another worker, mid-transaction on the same database
    other.exec_driver_sql("BEGIN IMMEDIATE")
    other.exec_driver_sql("UPDATE user SET active = 0 WHERE email_address = 'kim@example.gov.uk'")
    other.exec_driver_sql(
        "INSERT INTO audit_event (user_id, type, notification_id, created_at) "
        "SELECT id, 'deactivated', 'first', CURRENT_TIMESTAMP FROM user WHERE email_address = 'kim@example.gov.uk'"
    )
    timer = threading.Timer(0.3, other.commit)
    timer.start()
    started = time.monotonic()
    try:
        assert deactivate_user("kim@example.gov.uk", receipt("kim@example.gov.uk")) is False
        assert time.monotonic() - started >= 0.25  # it waited for the other's commit
    finally:
        timer.join()
        other.close()
    assert [event.notification_id for event in AuditEvent.query.all()] == ["first"]
