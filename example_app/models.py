"""The example's database: users, an audit trail, and the emails sent to each user."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def utcnow() -> datetime:
    """Now, in UTC (a column default)."""
    return datetime.now(UTC)


class User(db.Model):  # type: ignore[name-defined,misc]
    """An account. ``active`` goes False when Notify reports a permanent failure."""

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False)
    email_address = db.Column(db.String(320), unique=True, nullable=False)
    active = db.Column(db.Boolean, nullable=False, default=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    emails = db.relationship("SentEmailRecord", back_populates="user", order_by="SentEmailRecord.id")
    audit_events = db.relationship("AuditEvent", order_by="AuditEvent.id", viewonly=True)

    @property
    def last_email(self) -> SentEmailRecord | None:
        """The most recent email sent to this user, with its delivery status."""
        emails = cast("list[SentEmailRecord]", self.emails)
        return emails[-1] if emails else None


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """What happened to an account and why, written in the same transaction."""

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey(User.id), nullable=False)
    type = db.Column(db.String(100), nullable=False)
    notification_id = db.Column(db.String(36))
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


class SentEmailRecord(db.Model):  # type: ignore[name-defined,misc]
    """One email sent to a user, and the last delivery status Notify reported for it."""

    id = db.Column(db.Integer, primary_key=True)
    notification_id = db.Column(db.String(36), unique=True, nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey(User.id), nullable=False)
    template = db.Column(db.String(100), nullable=False)
    redirected = db.Column(db.Boolean, nullable=False, default=False)
    status = db.Column(db.String(40), nullable=False, default="sent to Notify")
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    user = db.relationship(User, back_populates="emails")
