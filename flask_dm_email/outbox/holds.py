"""Holding the queue over the daily limit: every email that would be sent before the
next 00:00 UTC waits until then, when Notify's daily count (and ours) starts again.

One statement holds them all, so a worker does not claim, count and refuse the rest of
the day's queue one row at a time; the claim releases them when their time comes, and
an operator's resume or ``outbox release-held`` releases them at once.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from . import states
from .store import Store
from .tables import meta, outbox

C = outbox.c
DAY = 86_400.0


#: ``dm_email_meta``: when held emails were last released, per service (epoch seconds).
_RELEASED = "released"


def _release_record(conn: Connection, store: Store, *, lock: bool = False) -> float | None:
    """The recorded time of the service's last release, read in ``conn`` (with ``lock``,
    under the release's row lock on PostgreSQL), or None."""
    query = select(meta.c.value).where(meta.c.name == f"{_RELEASED}:{store.service_id}")
    if lock and store.db.dialect == "postgresql":
        query = query.with_for_update()
    value = conn.execute(query).scalar()
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def released_at(store: Store) -> float | None:
    """When an operator last released the service's held emails (epoch seconds, by the
    database's clock), or None."""
    with store.db.connect() as conn:
        return _release_record(conn, store)


def next_midnight(now: float) -> float:
    """The next 00:00 UTC after ``now`` (seconds since the epoch; UTC has no leap
    seconds in epoch time, so every day is 86,400 of them)."""
    return (now // DAY + 1) * DAY


def hold_until_midnight(store: Store, *, unless_released_after: float | None = None) -> tuple[int, float, float] | None:
    """Hold every waiting row of the store's Notify service that is due before the next
    00:00 UTC (by the database's clock) until then. Returns ``(rows held, the midnight
    in seconds since the epoch, seconds from the database's now until it)``. Rows in
    flight are not touched: each is held by its own worker when the daily limit refuses
    it.

    :param unless_released_after: hold nothing, and return None, when an operator has
        released the held emails since then (epoch seconds: when Notify refused this
        process). Read in the same transaction, under the release's own lock, so a
        release committed a moment ago is never undone.
    """
    with store.db.begin() as conn:
        if unless_released_after is not None:
            released = _release_record(conn, store, lock=True)
            if released is not None and released > unless_released_after:
                return None
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


def release_held(store: Store) -> int:
    """Queue every held row of the store's Notify service now (on resume, or when an
    operator releases them after Notify raised the limit); each gets a ``released``
    event, as when its time comes. How many were released.

    A released row is due at once. The daily count is not touched: a process whose own
    ``DM_NOTIFY_DAILY_LIMIT`` is used up holds them again until 00:00 UTC. A process
    that had Notify's 429 ``TooManyRequestsError`` today sends again: the release is
    recorded (:func:`released_at`), and its workers look for it before holding a row.
    """
    with store.db.begin() as conn:
        now_value = float(conn.execute(select(store.db.now())).scalar_one())
        store.upsert_meta(conn, f"{_RELEASED}:{store.service_id}", repr(now_value))
        now = store.db.now()
        released = conn.execute(
            update(outbox)
            .where(C.service_id == store.service_id, C.status == states.HELD)
            .values(status=states.QUEUED, next_attempt_at=now, updated_at=now)
            .returning(C.id)
        ).scalars().all()
        store.add_events(conn, released, "released", status=states.QUEUED)
    return len(released)
