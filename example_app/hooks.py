"""What the example app does when Notify calls back."""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_dm_email import DMEmail
from flask_dm_email.signals import delivery_receipt_received

from .models import AuditEvent, SentEmailRecord, User, db, utcnow


def register_hooks(dm_email: DMEmail, app: Flask) -> None:
    """Deactivate on permanent failure; record every receipt's status."""

    @dm_email.user_deactivator
    def deactivate(email_address: str, receipt: Any) -> bool:
        # Idempotent: Notify may deliver the same receipt twice. Only an *active* user is
        # changed, and the audit row is written in the same transaction.
        user = User.query.filter(
            db.func.lower(User.email_address) == email_address.lower(), User.active.is_(True)
        ).first()
        if user is None:
            return False
        user.active = False
        db.session.add(
            AuditEvent(
                user_id=user.id,
                type="deactivated: Notify reported a permanent delivery failure",
                notification_id=receipt["id"],
            )
        )
        db.session.commit()
        return True

    def record_status(sender: Flask, receipt: Any, **_: Any) -> None:
        record = SentEmailRecord.query.filter_by(notification_id=receipt["id"]).first()
        if record is not None:
            record.status = receipt["status"]
            record.updated_at = utcnow()
            db.session.commit()

    delivery_receipt_received.connect(record_status, app, weak=False)
