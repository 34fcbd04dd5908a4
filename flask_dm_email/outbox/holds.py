"""Holding the queue over the daily limit: every email that would be sent before the
next 00:00 UTC waits until then, when Notify's daily count (and ours) starts again.

One statement holds them all, so a worker does not claim, count and refuse the rest of
the day's queue one row at a time; the claim releases them when their time comes.
"""

from __future__ import annotations

from sqlalchemy import select, update

from . import states
from .store import Store
from .tables import outbox

C = outbox.c
DAY = 86_400.0


def next_midnight(now: float) -> float:
    """The next 00:00 UTC after ``now`` (seconds since the epoch; UTC has no leap
    seconds in epoch time, so every day is 86,400 of them)."""
    return (now // DAY + 1) * DAY


def hold_until_midnight(store: Store) -> tuple[int, float, float]:
    """Hold every waiting row of the store's Notify service that is due before the next
    00:00 UTC (by the database's clock) until then. Returns ``(rows held, the midnight
    in seconds since the epoch, seconds from the database's now until it)``. Rows in
    flight are not touched: each is held by its own worker when the daily limit refuses
    it."""
    with store.db.begin() as conn:
        now = float(conn.execute(select(store.db.now())).scalar_one())
        midnight = next_midnight(now)
        held = conn.execute(
            update(outbox)
            .where(C.service_id == store.service_id, C.status.in_(states.CLAIMABLE), C.next_attempt_at < midnight)
            .values(status=states.HELD, next_attempt_at=midnight, updated_at=now)
            .returning(C.id)
        ).scalars().all()
        store.add_events(conn, held, "daily-limit-held", status=states.HELD)
    return len(held), midnight, midnight - now
