"""Reports over the outbox's events: what was sent, delivered, bounced, complained about
or failed, streamed (a 50,000-email month is never a list in memory), with hashed
addresses only. ``flask dm-email report export`` and ``report summary`` print them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from . import states
from .store import Store
from .tables import event, outbox

E, C = event.c, outbox.c

#: Report types -> (event types, the status the event records, or None for any).
TYPES: dict[str, tuple[frozenset[str], str | None]] = {
    "sent": (frozenset({"sent", "found-by-lookup"}), states.SENT),
    "delivered": (frozenset({"receipt", "poll"}), states.DELIVERED),
    "permanent-failure": (frozenset({"receipt", "poll"}), states.PERMANENT_FAILURE),
    "temporary-failure": (frozenset({"receipt", "poll"}), states.TEMPORARY_FAILURE),
    "technical-failure": (frozenset({"receipt", "poll"}), states.TECHNICAL_FAILURE),
    "complaint": (frozenset({"complaint"}), None),
    "failed": (frozenset({"failed"}), states.FAILED),
}
FIELDS = ("at", "type", "email_id", "reference", "template", "to_hash", "status", "http_status", "error_class",
          "batch")


def _type_of(event_type: str, status: str | None) -> str | None:
    for name, (event_types, wanted) in TYPES.items():
        if event_type in event_types and (wanted is None or status == wanted):
            return name
    return None


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def export_records(store: Store, *, types: Iterable[str] = TYPES, since: float | None = None,
                   until: float | None = None, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
    """One record per reportable event of the store's Notify service, oldest first,
    fetched ``batch_size`` at a time (keyset paging on the event id: no long-held
    cursor, no list of everything)."""
    wanted = frozenset(types)
    event_types = sorted({t for name in wanted for t in TYPES[name][0]})
    last = 0
    while True:
        query = (
            select(E.id, E.type, E.status, E.http_status, E.error_class, E.at, E.outbox_id, C.reference,
                   C.template_name, C.template_id, C.to_hash, C.batch_id)
            .join(outbox, C.id == E.outbox_id)
            .where(E.id > last, C.service_id == store.service_id, E.type.in_(event_types))
            .order_by(E.id)
            .limit(batch_size)
        )
        if since is not None:
            query = query.where(E.at >= since)
        if until is not None:
            query = query.where(E.at < until)
        with store.db.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        for row in rows:
            kind = _type_of(row.type, row.status)
            if kind in wanted:
                yield {"at": _iso(row.at), "type": kind, "email_id": row.outbox_id, "reference": row.reference,
                       "template": row.template_name or row.template_id, "to_hash": row.to_hash,
                       "status": row.status, "http_status": row.http_status, "error_class": row.error_class,
                       "batch": row.batch_id}
        last = rows[-1].id


def summarise(records: Iterable[dict[str, Any]], by: str) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)``: a count of each report type per day (UTC) or per template."""
    counts: dict[str, Counter[str]] = {}
    for record in records:
        key = record["at"][:10] if by == "day" else str(record["template"])
        counts.setdefault(key, Counter())[record["type"]] += 1
    columns = [by, *TYPES]
    rows = [[key, *(counts[key].get(name, 0) for name in TYPES)] for key in sorted(counts)]
    return columns, rows
