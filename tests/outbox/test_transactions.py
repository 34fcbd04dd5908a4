"""``queue_email(session=db.session)`` joins the caller's transaction in the
``sqlalchemy`` mode: a rolled-back request queues nothing, a committed one loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_dm_email import DMEmail, EmailConfigError, queue_email
from flask_dm_email.signals import email_queued

TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email_address: Mapped[str]


@pytest.fixture
def app(outbox_url: str) -> Iterator[tuple[Flask, Any]]:
    db = SQLAlchemy(model_class=Base)
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=outbox_url,
        DM_ENVIRONMENT="test",
        DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE},
        DM_EMAIL_OUTBOX_URL="sqlalchemy",
    )
    db.init_app(app)
    dm_email = DMEmail(app)
    with app.app_context():
        db.create_all()
        dm_email.outbox.create_tables()
        yield app, db
        db.session.remove()
        db.engine.dispose()


def test_a_committed_sign_up_has_its_email_queued(app: tuple[Flask, Any]) -> None:
    _, db = app
    account = Account(email_address="ada@gov.uk")
    db.session.add(account)
    db.session.flush()
    queued = queue_email(account.email_address, "welcome", {"name": "Ada"}, link=account, session=db.session)
    db.session.commit()
    assert [e.id for e in DMEmail.outbox.find(link=account)] == [queued.id]
    assert queued.link == ("account", str(account.id))


def test_a_rolled_back_sign_up_queues_nothing(app: tuple[Flask, Any]) -> None:
    _, db = app
    db.session.add(Account(email_address="ada@gov.uk"))
    db.session.flush()
    queue_email("ada@gov.uk", "welcome", {"name": "Ada"}, session=db.session)
    db.session.rollback()
    assert DMEmail.outbox.counts() == {}
    assert db.session.query(Account).count() == 0


def test_session_needs_the_sqlalchemy_mode(tmp_path: Any) -> None:
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE})
    DMEmail(app)
    with app.app_context(), pytest.raises(EmailConfigError) as info:
        queue_email("ada@gov.uk", "welcome", session=object())
    assert info.value.problems[0][0] == "DM_EMAIL_OUTBOX_URL"
    assert "'sqlalchemy'" in str(info.value)


def test_the_worker_is_woken_when_the_request_commits(app: tuple[Flask, Any]) -> None:
    _, db = app
    runtime = app[0].extensions["dm_email"].outbox
    runtime.queued.clear()
    queue_email("ada@gov.uk", "welcome", {"name": "Ada"}, session=db.session)
    assert not runtime.queued.is_set()  # nothing to see before the commit
    db.session.commit()
    assert runtime.queued.is_set()


def test_email_queued_is_sent_when_the_request_commits_and_never_for_a_rollback(app: tuple[Flask, Any]) -> None:
    flask_app, db = app
    heard: list[str] = []
    with email_queued.connected_to(lambda _app, email: heard.append(email.id), flask_app):
        queue_email("ada@gov.uk", "welcome", {"name": "Ada"}, session=db.session)
        db.session.rollback()
        assert heard == []  # that email never existed
        queued = queue_email("bo@gov.uk", "welcome", {"name": "Bo"}, session=db.session)
        assert heard == []  # nor does this one, yet
        db.session.commit()
    assert heard == [queued.id]


def test_a_failing_email_queued_receiver_never_makes_the_commit_look_failed(
    app: tuple[Flask, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The signal comes inside the caller's commit, which has happened: an error raised to
    the caller would have it retry, queueing the email twice."""
    flask_app, db = app
    runtime = flask_app.extensions["dm_email"].outbox
    runtime.queued.clear()

    def broken(_app: Flask, email: Any) -> None:
        raise RuntimeError("a receiver's bug about " + email.id)

    with email_queued.connected_to(broken, flask_app):
        queued = queue_email("ada@gov.uk", "welcome", {"name": "Ada"}, session=db.session)
        db.session.commit()  # does not raise
    assert [e.id for e in DMEmail.outbox.find(reference=queued.reference)] == [queued.id]
    assert runtime.queued.is_set()  # and the worker was woken
    assert "email_queued receiver failed (RuntimeError)" in caplog.text
