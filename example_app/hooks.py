"""What the example app does when Notify calls back."""

from __future__ import annotations

from typing import Any

from flask_dm_email import DMEmail

from .models import AuditEvent, User, db


def deactivate_user(email_address: str, receipt: Any) -> bool:
    """The ``user_deactivator`` hook: deactivate the active user with this address.

    Idempotent: Notify may deliver the same receipt twice. Only an *active* user is
    changed, and the audit row is written in the same transaction, so a repeat (or a retry
    after a failure part-way) changes nothing more.
    """
    # Addresses are stored lowercased, so this is an indexed lookup, not a table scan.
    user = User.query.filter_by(email_address=email_address.lower(), active=True).first()
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


def register_hooks(dm_email: DMEmail) -> None:
    """Deactivate on permanent failure.

    Nothing else is needed to keep each email's status: the outbox row queued at sign-up
    is moved forward by the extension itself when Notify's receipt arrives.
    """
    dm_email.user_deactivator(deactivate_user)
