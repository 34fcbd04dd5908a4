"""The event feed: the append-only ``dm_email_event`` table read by a cursor (seed 002
publishes feeds of sends and bounces). Pure reading; no personal data is in an event.

A cursor is an event id. Ids are handed out at insert time but become visible at commit,
and on PostgreSQL two transactions may commit out of order: a reader that moved past a
missing id would never see the event that fills it. So a page stops before the first gap
in the ids, unless the gap is older than :data:`GAP_SECONDS` (then it is a transaction
that rolled back, or an event purged: it will never be filled).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select

from ..outbox.store import Store
from ..outbox.tables import event, outbox

#: How long a gap in the ids is waited for before it is taken as permanent. A transaction
#: that writes an event and stays open longer than this (queue_email(session=...) in a
#: long transaction) may be passed by a reader.
GAP_SECONDS = 10.0
MAX_LIMIT = 1000

E = event.c


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def read_events(store: Store, after: int, limit: int) -> dict[str, Any]:
    """``{"events": [...], "next_cursor": n}``: up to ``limit`` events of the store's Notify
    service after cursor ``after``, oldest first. An empty list means caught up; ask
    again with ``next_cursor``.

    The events are chosen in SQL, so in a database other services share a page is empty
    only when this service has no event after the cursor that may be read yet (other
    services' events are passed by the cursor, never returned).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    mine = or_(outbox.c.service_id == store.service_id, E.outbox_id == "")
    own = select(E.id).select_from(event.outerjoin(outbox, outbox.c.id == E.outbox_id)).where(E.id > after, mine)
    # SQLite has one writer at a time, so ids become visible in order: no gap to wait
    # for. Elsewhere the page stops before the first gap that may still be filled.
    ordered = store.db.dialect == "sqlite"
    with store.db.connect() as conn:
        now = float(conn.execute(select(store.db.now())).scalar_one())
        # Each statement may see more commits than the one before (read committed), so
        # the bounds come first and each later statement keeps within them.
        newest = conn.execute(select(func.max(E.id))).scalar()
        if newest is None or newest <= after:
            return {"events": [], "next_cursor": after}
        bound = int(newest)
        if not ordered:
            ids = conn.execute(own.where(E.id <= bound).order_by(E.id).limit(limit)).scalars().all()
            if len(ids) == limit:
                bound = ids[-1]  # a full page ends there: look for gaps no further
            stop = _first_recent_gap(conn, after, bound, now)
            if stop is not None:
                # Up to the last event before the gap: every id up to it is settled.
                bound = conn.execute(select(func.max(E.id)).where(E.id > after, E.id < stop)).scalar() or after
        query = (
            select(E.id, E.outbox_id, E.type, E.status, E.http_status, E.error_class, E.at)
            .select_from(event.outerjoin(outbox, outbox.c.id == E.outbox_id))
            .where(E.id > after, E.id <= bound, mine)
            .order_by(E.id)
            .limit(limit)
        )
        rows = conn.execute(query).all()
    events = [
        {
            "cursor": row.id, "type": row.type, "email_id": row.outbox_id or None, "status": row.status,
            "http_status": row.http_status, "error_class": row.error_class, "at": _iso(row.at),
        }
        for row in rows
    ]
    # A full page ends at its last event; a shorter one passes every event up to the bound.
    return {"events": events, "next_cursor": rows[-1].id if len(rows) == limit else bound}


def _first_recent_gap(conn: Connection, after: int, upper: int, now: float) -> int | None:
    """The first event id in ``(after, upper]`` that follows a missing id (also after
    ``after``) while it is younger than :data:`GAP_SECONDS`: the missing event may still
    be committed, so no reader may move past it yet."""
    before = event.alias("before")
    found: int | None = conn.execute(
        select(func.min(E.id)).where(
            E.id > after + 1, E.id <= upper, E.at > now - GAP_SECONDS,
            ~exists().where(before.c.id == E.id - 1),
        )
    ).scalar()
    return found
