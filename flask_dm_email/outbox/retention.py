"""Retention: the housekeeping that forgets.

Two limits, run together (hourly by the worker, by the Celery housekeeping task, and by
``flask dm-email outbox purge`` / ``dm_email.outbox.purge()``):

* a final row's address and personalisation are cleared ``DM_EMAIL_RETENTION_DAYS``
  after it became final (:meth:`~flask_dm_email.outbox.store.Store.purge`);
* a final row's events are deleted ``DM_EMAIL_EVENT_RETENTION_DAYS`` after they
  happened. The events of a row not yet final are kept whatever their age (its timeline
  is still needed), and so are another Notify service's (in a shared database, each app
  keeps its own retention).

Events are deleted a chunk at a time, each chunk its own short transaction walking the
primary key, so a purge of millions of events never holds a lock for long.

Every deletion of events (here and in :mod:`.erase`) goes through :func:`delete_events`,
which first adds the receipts and 429s it deletes to running totals in ``dm_email_meta``,
in the same transaction: the Prometheus counters (:mod:`flask_dm_email.ops.metrics`) are
the events still there plus these totals, so they never go down.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter

from sqlalchemy import ColumnElement, Connection, Select, delete, exists, or_, select, update

from . import states
from .runtime import OutboxRuntime
from .store import Store
from .tables import event, meta, outbox

logger = logging.getLogger("flask_dm_email.outbox")

#: Events looked at per transaction (SQLite, 500,000 events on a loaded 2-core machine: a
#: median transaction of ~12 ms at 1,000, ~45 ms at 5,000).
EVENT_CHUNK = 1000

E = event.c
C = outbox.c
M = meta.c

#: The event kinds the Prometheus counters count.
COUNTED = ("receipt", "rate-limited", "daily-limited")
_TOTAL = "dc"


def counter_label(kind: str, status: str | None) -> str:
    """What a counted event adds to: ``receipt:<status>``, or its kind (a 429)."""
    return f"receipt:{status}" if kind == "receipt" else kind


def _total_name(label: str, service_id: str) -> str:
    # dm_email_meta.name holds 50 characters: a digest of the label (the label itself is in
    # the value), then the service id (36).
    return f"{_TOTAL}:{hashlib.sha256(label.encode()).hexdigest()[:10]}:{service_id}"


def deleted_totals(service_id: str) -> Select[tuple[str, str]]:
    """The ``(name, value)`` rows of one service's totals of deleted counted events; read
    each value with :func:`read_total`."""
    return select(M.name, M.value).where(M.name.startswith(f"{_TOTAL}:", autoescape=True),
                                         M.name.endswith(f":{service_id}", autoescape=True))


def read_total(value: str) -> tuple[str, int]:
    """``(label, count)`` of a total's value."""
    count, _, label = value.partition(" ")
    return label, int(count)


def _add_to_totals(store: Store, conn: Connection, service_id: str, added: Counter[str]) -> None:
    for label, count in sorted(added.items()):  # one order: two transactions never deadlock here
        name = _total_name(label, service_id)
        locked = select(M.value).where(M.name == name)
        if store.db.dialect == "postgresql":  # SQLite's write transaction already holds the lock
            locked = locked.with_for_update()
        while True:
            value = conn.execute(locked).scalar()
            if value is not None:
                conn.execute(update(meta).where(M.name == name).values(value=f"{read_total(value)[1] + count} {label}"))
                break
            inserted = conn.execute(
                store._insert_ignore(meta).values(name=name, value=f"{count} {label}").returning(M.name)
            ).first()
            if inserted is not None:
                break  # else another transaction created it first: lock it and add


def delete_events(
    store: Store, conn: Connection, *where: ColumnElement[bool], service_id: str,
    counted: ColumnElement[bool] | None = None,
) -> int:
    """Delete the events matching ``where`` in the caller's transaction; how many.

    The receipts and 429s among them that are ``service_id``'s (those ``counted`` also
    picks; all of them when None) are deleted first, and what was deleted is added to
    that service's totals, so the counters the metrics report never go down."""
    picked = [*where, E.type.in_(COUNTED)] + ([counted] if counted is not None else [])
    gone = conn.execute(delete(event).where(*picked).returning(E.type, E.status)).all()
    if gone:
        _add_to_totals(store, conn, service_id, Counter(counter_label(row.type, row.status) for row in gone))
    return len(gone) + int(conn.execute(delete(event).where(*where)).rowcount)


class PurgeResult(int):
    """What a purge did. It *is* the number of rows whose personal data was cleared (what
    ``purge()`` has always returned), and :attr:`events` is how many events were
    deleted."""

    events: int

    def __new__(cls, rows: int, events: int) -> PurgeResult:
        result = super().__new__(cls, rows)
        result.events = events
        return result

    def __getnewargs__(self) -> tuple[int, int]:  # type: ignore[override]
        # pickle and copy (a Celery task returning it) build it again from both numbers.
        return int(self), self.events

    @property
    def rows(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"PurgeResult(rows={int(self)}, events={self.events})"


def purge_events(store: Store, retention_days: float, *, chunk: int = EVENT_CHUNK,
                 stopping: threading.Event | None = None) -> int:
    """Delete the events older than ``retention_days`` of this service's final rows (and
    events no row owns: pauses, resumes, rows erased); how many. When ``stopping`` is set
    it stops between two transactions (the next purge carries on)."""
    # An event is kept while a row owns it that is not final, or is another service's.
    kept = exists().where(
        C.id == E.outbox_id, or_(C.service_id != store.service_id, C.status.not_in(states.FINAL))
    )
    # The events deleted are of this service's final rows, or no row's (never counted).
    owned = exists().where(C.id == E.outbox_id)
    deleted = 0
    after = 0
    while True:
        with store.db.begin() as conn:
            cutoff = float(conn.execute(select(store.db.now())).scalar_one()) - retention_days * 86400
            seen = conn.execute(select(E.id, E.at).where(E.id > after).order_by(E.id).limit(chunk)).all()
            old = 0
            for row in seen:  # ids grow with time: the old events are a prefix
                if row.at >= cutoff:
                    break
                old += 1
            if old:
                last = seen[old - 1].id
                deleted += delete_events(store, conn, E.id > after, E.id <= last, E.at < cutoff, ~kept,
                                         service_id=store.service_id, counted=owned)
                after = last
        if old < chunk or (stopping is not None and stopping.is_set()):
            break
    if deleted:
        logger.info("Deleted %d outbox events older than %g days (DM_EMAIL_EVENT_RETENTION_DAYS).",
                    deleted, retention_days)
    return deleted


def purge(runtime: OutboxRuntime, *, stopping: threading.Event | None = None) -> PurgeResult:
    """The whole retention housekeeping of one app's outbox: personal data past
    ``DM_EMAIL_RETENTION_DAYS``, events past ``DM_EMAIL_EVENT_RETENTION_DAYS`` (the
    events' purge stops early when ``stopping`` is set)."""
    settings = runtime.settings
    store = runtime.store
    rows = store.purge(settings.retention_days)
    return PurgeResult(rows, purge_events(store, settings.event_retention_days, stopping=stopping))
