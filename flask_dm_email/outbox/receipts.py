"""Delivery receipts and status lookups move rows forward, never back."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import select

from . import states
from .records import QueuedEmail, status_changed
from .store import Store
from .tables import event, outbox
from .watch import check_permanent_failures

logger = logging.getLogger("flask_dm_email.outbox")


def _storable(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def apply_notify_status(
    app: Flask, store: Store, *, notify_id: str | None, reference: str | None, status: str, kind: str,
    row_id: str | None = None,
) -> str | None:
    """Move the row Notify's ``status`` is about (``row_id`` when the caller knows it,
    else found by Notify's id, else by the reference it was sent with). Returns the
    row's new status, or None when nothing moved: unknown row, unknown status, or a
    repeated or out-of-order report (which is recorded as an event)."""
    # A hostile body may hold text no database can store (a lone surrogate): such a
    # reference can match no row, and must not turn the answer into a 500.
    notify_id, reference = _storable(notify_id), _storable(reference)
    row = store.get(row_id) if row_id is not None else store.by_notify(notify_id, reference)
    if row is None:
        return None
    new = states.FROM_NOTIFY.get(status)
    if new is None:
        store.note(row["id"], f"{kind}-unknown-status", status=row["status"])
        return None
    values: dict[str, Any] = {"personalisation": None}
    if notify_id:
        values["notify_id"] = notify_id
    only_from = None
    if not row["maybe_sent"]:
        # Cancelled with nothing unclear: it never reached Notify, so nothing moves it.
        only_from = states.sources_of(new) - {states.CANCELLED}
    old, moved = store.move(row["id"], new, kind=kind, values=values, only_from=only_from)
    if moved is None or old is None:
        return None
    if old == states.CANCELLED:
        # Cancelled while its last attempt was unclear, and Notify had it after all: the
        # row tells the truth (nothing more is sent for it either way).
        store.note(row["id"], "reached-notify-after-cancel", status=moved)
        logger.warning("Outbox row %s was cancelled, but its unclear attempt had reached Notify: it is %s now",
                       row["id"], moved)
    status_changed(app, QueuedEmail.from_row({**row, "status": moved, **values}), old, moved)
    if moved == states.PERMANENT_FAILURE:
        check_permanent_failures(app, store)
    return moved


def apply_receipt(app: Flask, store: Store, receipt: Mapping[str, Any]) -> str | None:
    """A delivery receipt from the callback blueprint."""
    return apply_notify_status(
        app, store, notify_id=receipt.get("id"), reference=receipt.get("reference"),
        status=str(receipt.get("status")), kind="receipt",
    )


def record_complaint(store: Store, complaint: Mapping[str, Any]) -> bool:
    """A complaint (the recipient marked the email as spam) becomes a ``complaint`` event
    on its row, once, for the reports and the status page; the row's status stays.
    False when the row is unknown or the complaint was already recorded."""
    row = store.by_notify(_storable(complaint.get("notification_id")), _storable(complaint.get("reference")))
    if row is None:
        return False
    with store.db.begin() as conn:
        # Notify may send one complaint twice at once: the row's lock (SQLite's write
        # lock, which begin() takes) makes the look-then-write one step.
        lock = select(outbox.c.id).where(outbox.c.id == row["id"])
        conn.execute(lock.with_for_update() if store.db.dialect == "postgresql" else lock)
        recorded = select(event.c.id).where(event.c.outbox_id == row["id"], event.c.type == "complaint").limit(1)
        if conn.execute(recorded).first() is not None:
            return False
        store.add_event(conn, row["id"], "complaint", status=row["status"])
    return True
