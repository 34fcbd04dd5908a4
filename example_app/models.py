"""The example's database: users and an audit trail. The emails sent to each user are
rows of the outbox (``dm_email.outbox.find(link=user)``), in the same database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, event

db = SQLAlchemy()

_BUSY_TIMEOUT_MS = 30_000


def configure_sqlite(engine: Engine) -> None:
    """Run a SQLite file as the outbox runs its own (``flask_dm_email/outbox/database.py``).

    WAL: pages read while another worker writes. ``synchronous=NORMAL`` (with WAL): a
    commit survives the process crashing, though not the machine losing power, and waits
    for no fsync of its own. A busy timeout: a writer waits its turn (up to 30 s) rather than
    failing with "database is locked" while another worker commits. Nothing to do for
    PostgreSQL, or for an in-memory SQLite database.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()


def utcnow() -> datetime:
    """Now, in UTC (a column default)."""
    return datetime.now(UTC)


class User(db.Model):  # type: ignore[name-defined,misc]
    """An account. ``active`` goes False when Notify reports a permanent failure."""

    # Outbox rows are linked to a user by id (``queue_email(..., link=user)``): never hand a
    # deleted user's id to a new one, or the new user would see the old one's emails.
    # (PostgreSQL sequences never reuse ids; SQLite needs AUTOINCREMENT for that.)
    __table_args__ = ({"sqlite_autoincrement": True},)

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False)
    email_address = db.Column(db.String(320), unique=True, nullable=False)
    active = db.Column(db.Boolean, nullable=False, default=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    audit_events = db.relationship("AuditEvent", order_by="AuditEvent.id", viewonly=True)


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """What happened to an account and why, written in the same transaction."""

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey(User.id), nullable=False)
    type = db.Column(db.String(100), nullable=False)
    notification_id = db.Column(db.String(36))
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
