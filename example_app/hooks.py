"""What the example app does when Notify calls back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, update

from flask_dm_email import DMEmail

from .models import AuditEvent, User, db

DEACTIVATED = "deactivated: Notify reported a permanent delivery failure"

# Two statements on the tables (not the ORM classes), built once. A receipt is one UPDATE
# and, when it changed a row, one INSERT: no ORM objects loaded, tracked and flushed for
# rows the request never reads again (through the ORM the same work took four times the CPU).
_users = User.__table__
_DEACTIVATE = (
    update(_users)
    .where(_users.c.email_address == bindparam("address"), _users.c.active.is_(True))
    .values(active=False)
    .returning(_users.c.id)
)
_AUDIT = insert(AuditEvent.__table__)


def deactivate_user(email_address: str, receipt: Any) -> bool:
    """The ``user_deactivator`` hook: deactivate the active user with this address.

    Idempotent: Notify may deliver the same receipt twice. Only an *active* user is
    changed (the UPDATE's own condition, so two workers handling the same receipt at once
    cannot both succeed), and the audit row is written in the same transaction, so a
    repeat (or a retry after a failure part-way) changes nothing more.
    """
    # One transaction of its own, straight on the engine (the request has nothing else
    # for the ORM session to do): committed when the block ends, rolled back on error.
    with db.engine.begin() as conn:
        # Addresses are stored lowercased, so this is a lookup in email_address's unique index.
        user_id = conn.execute(_DEACTIVATE, {"address": email_address.lower()}).scalar()
        if user_id is None:
            return False
        conn.execute(_AUDIT, {"user_id": user_id, "type": DEACTIVATED, "notification_id": receipt["id"]})
    return True


def register_hooks(dm_email: DMEmail) -> None:
    """Deactivate on permanent failure.

    Nothing else is needed to keep each email's status: the outbox row queued at sign-up
    is moved forward by the extension itself when Notify's receipt arrives.
    """
    dm_email.user_deactivator(deactivate_user)
