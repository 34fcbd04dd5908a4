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

from sqlalchemy import or_, select

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
    again with ``next_cursor``."""
    limit = max(1, min(limit, MAX_LIMIT))
    mine = or_(outbox.c.service_id == store.service_id, E.outbox_id == "")
    query = (
        select(E.id, E.outbox_id, E.type, E.status, E.http_status, E.error_class, E.at, outbox.c.service_id)
        .select_from(event.outerjoin(outbox, outbox.c.id == E.outbox_id))
        .where(E.id > after)
        .order_by(E.id)
        .limit(limit)
    )
    # SQLite has one writer at a time, so ids become visible in order: no gap to wait
    # for, and the query can keep to this service. Elsewhere every event is read, to
    # see the gaps.
    ordered = store.db.dialect == "sqlite"
    with store.db.connect() as conn:
        now = float(conn.execute(select(store.db.now())).scalar_one())
        rows = conn.execute(query.where(mine) if ordered else query).all()
    events: list[dict[str, Any]] = []
    cursor = after
    for row in rows:
        if not ordered and row.id != cursor + 1 and row.at > now - GAP_SECONDS:
            break  # an id before this one may still be committed: wait for it
        cursor = row.id
        if row.outbox_id and row.service_id != store.service_id:
            continue  # another app's email, in a shared database
        events.append({
            "cursor": row.id, "type": row.type, "email_id": row.outbox_id or None, "status": row.status,
            "http_status": row.http_status, "error_class": row.error_class, "at": _iso(row.at),
        })
    return {"events": events, "next_cursor": cursor}
