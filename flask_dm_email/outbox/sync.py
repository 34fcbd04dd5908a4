"""``outbox sync-statuses``: ask Notify about emails it has not called back about.

Notify calls back only for delivered, permanent-failure and temporary-failure; a
technical failure, or a receipt that was lost, is found only by asking. Status lookups
are GETs: they take no token from the rate budget.
"""

from __future__ import annotations

import logging

from flask import Flask

from ..state import get_state
from . import states
from .receipts import apply_notify_status

logger = logging.getLogger("flask_dm_email.outbox")

#: Rows that went to Notify but have no outcome yet.
UNSETTLED = (states.SENT, states.NOTIFY_CREATED, states.NOTIFY_SENDING)


def sync_statuses(app: Flask, *, older_than: float = 0.0, limit: int = 1000) -> dict[str, int]:
    """Poll Notify for up to ``limit`` rows without an outcome whose last change is
    ``older_than`` seconds old; ``{new status: count}`` of the rows that moved."""
    state = get_state(app)
    runtime = state.outbox
    assert runtime is not None
    status_of = getattr(state.backend, "status_of", None)
    if status_of is None:  # the log and memory backends have nothing to ask
        return {}
    moved: dict[str, int] = {}
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
