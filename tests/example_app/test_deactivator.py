"""The example's ``user_deactivator`` hook and receipt recorder, on a real SQLite database."""

from __future__ import annotations

from typing import Any

from flask import Flask

from example_app.hooks import deactivate_user
from example_app.models import AuditEvent, SentEmailRecord, User, db
from flask_dm_email.signals import delivery_receipt_received
from flask_dm_email.testing import delivery_receipt


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


def test_a_failed_commit_leaves_the_user_active_and_unaudited(app: Flask, monkeypatch: Any) -> None:
    """One transaction: if it fails, neither change is kept, and Notify's retry redoes both."""
    user = add_user("kim@example.gov.uk")

    def broken_commit() -> None:
        db.session.flush()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db.session, "commit", broken_commit)
    try:
        deactivate_user("kim@example.gov.uk", receipt("kim@example.gov.uk"))
    except RuntimeError:
        db.session.rollback()
    monkeypatch.undo()
    db.session.expire_all()
    assert db.session.get(User, user.id).active is True and AuditEvent.query.count() == 0
    assert deactivate_user("kim@example.gov.uk", receipt("kim@example.gov.uk")) is True  # the retry
    assert AuditEvent.query.count() == 1


def test_each_receipt_updates_the_status_of_its_email(app: Flask) -> None:
    user = add_user("kim@example.gov.uk")
    db.session.add(SentEmailRecord(notification_id="n-1", user_id=user.id, template="welcome"))
    db.session.commit()
    delivery_receipt_received.send(app, receipt=receipt("kim@example.gov.uk", "delivered", id="n-1"))
    delivery_receipt_received.send(app, receipt=receipt("kim@example.gov.uk", "delivered", id="unknown"))
    db.session.expire_all()
    assert SentEmailRecord.query.one().status == "delivered"
    assert user.last_email is not None and user.last_email.status == "delivered"
