"""``outbox sync-statuses``: ask Notify about emails it has not called back about.

Notify calls back only for delivered, permanent-failure and temporary-failure; a
technical failure, or a receipt that was lost, is found only by asking. Status lookups
are GETs: they take no token from the rate budget.

An email cancelled while its last attempt was unclear (``maybe_sent``) is looked up by
its reference too: found, it moves to Notify's status (Notify had it after all); not
found once nothing can still arrive, it stays cancelled and is not asked about again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy import RowMapping, select, update

from ..state import get_state
from . import states
from .delivery import lookup_row
from .receipts import apply_notify_status
from .store import Store
from .tables import outbox

logger = logging.getLogger("flask_dm_email.outbox")

C = outbox.c
#: Rows that went to Notify but have no outcome yet.
UNSETTLED = (states.SENT, states.NOTIFY_CREATED, states.NOTIFY_SENDING)


def sync_statuses(app: Flask, *, older_than: float = 0.0, limit: int = 1000) -> dict[str, int]:
    """Poll Notify for up to ``limit`` rows without an outcome whose last change is
    ``older_than`` seconds old, and look up up to ``limit`` cancelled rows that may have
    reached Notify; ``{new status: count}`` of the rows that moved."""
    state = get_state(app)
    runtime = state.outbox
    assert runtime is not None
    moved: dict[str, int] = {}
    for found in _settle_cancelled(app, runtime.store, older_than=older_than, limit=limit):
        moved[found] = moved.get(found, 0) + 1
    status_of = getattr(state.backend, "status_of", None)
    if status_of is None:  # the log and memory backends have nothing to ask
        return moved
    for row in runtime.store.unsettled(UNSETTLED, older_than=older_than, limit=limit):
        try:
            status = status_of(row["notify_id"])
        except Exception as error:
            logger.warning("Could not ask Notify about row %s (%s); trying later", row["id"], type(error).__name__)
            continue
        new = apply_notify_status(app, runtime.store, notify_id=row["notify_id"], reference=None, status=status,
                                  kind="poll")
        if new is not None:
            moved[new] = moved.get(new, 0) + 1
    return moved


def cancelled_maybe_sent(store: Store, *, older_than: float, limit: int) -> list[RowMapping]:
    """Cancelled rows of the store's service whose last attempt was unclear and that no
    receipt has settled yet, unchanged for ``older_than`` seconds."""
    with store.db.connect() as conn:
        return list(
            conn.execute(
                select(outbox)
                .where(C.service_id == store.service_id, C.status == states.CANCELLED, C.maybe_sent.is_(True),
                       C.updated_at <= store.db.now() - older_than)
                .order_by(C.updated_at)
                .limit(limit)
            ).mappings().all()
        )


def _settle_cancelled(app: Flask, store: Store, *, older_than: float, limit: int) -> list[str]:
    """Look up each cancelled ``maybe_sent`` row by its unique reference; the statuses
    the rows found moved to."""
    backend = get_state(app).backend
    moved: list[str] = []
    for row in cancelled_maybe_sent(store, older_than=older_than, limit=limit):
        try:
            found = lookup_row(backend, row)
        except Exception as error:
            logger.warning("Could not look up cancelled row %s (%s); trying later", row["id"], type(error).__name__)
            continue
        if found is not None:
            new = apply_notify_status(app, store, notify_id=str(found.get("id")) if found.get("id") else None,
                                      reference=row["notify_reference"], status=str(found.get("status") or "created"),
                                      kind="poll", row_id=row["id"])
            if new is not None:
                moved.append(new)
            continue
        _confirm_not_sent(store, row)
    return moved


def _confirm_not_sent(store: Store, row: Mapping[Any, Any]) -> None:
    """Not found at Notify, and nothing can still arrive: the cancel stopped it in time."""
    with store.db.begin() as conn:
        now = store.db.now()
        changed = conn.execute(
            update(outbox)
            .where(C.id == row["id"], C.status == states.CANCELLED, C.maybe_sent.is_(True),
                   C.settles_at.is_(None) | (C.settles_at <= now))
            .values(maybe_sent=False, updated_at=now)
        ).rowcount
        if changed:
            store.add_event(conn, row["id"], "cancel-confirmed-not-sent", status=states.CANCELLED)
