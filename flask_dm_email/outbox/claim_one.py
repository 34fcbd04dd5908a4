"""Claim one row by its id, and find rows that have waited too long: what a task queue
(Celery) needs on top of the worker's claim.

A task carries only a row id, and a broker may deliver it twice, late, or not at all. So
the claim is the worker's compare-and-set, narrowed to that row: it succeeds only while
the row is waiting, due, and of this app's Notify service, with a fresh claim token and
lease; a second delivery of the same task finds the row taken and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Float, RowMapping, bindparam, select, update

from . import states
from .store import Store
from .tables import outbox

C = outbox.c

# Compiled once per database dialect (a task claims one row per run).
_CLAIMS: dict[str, Any] = {}


def _claim_statement(store: Store) -> Any:
    dialect = store.db.dialect
    statement = _CLAIMS.get(dialect)
    if statement is None:
        now = store.db.now()
        statement = (
            update(outbox)
            .where(C.id == bindparam("p_id"), C.service_id == bindparam("p_service"),
                   C.status.in_(states.CLAIMABLE), C.next_attempt_at <= now)
            .values(status=states.SENDING, claim_token=bindparam("p_token"),
                    lease_expires_at=now + bindparam("p_lease", type_=Float), updated_at=now)
            .returning(*outbox.c)
        )
        _CLAIMS[dialect] = statement
    return statement


def claim_one(store: Store, row_id: str, lease_seconds: float) -> RowMapping | None:
    """Claim the row ``row_id`` as a worker claims (a fresh claim token, a lease of
    ``lease_seconds`` on the database's clock, a ``claimed`` event), in one
    compare-and-set; None when it is not claimable now: unknown, another service's,
    not yet due, held, in flight, or final. (The pause flag is the caller's to check,
    as the worker does before it claims.)"""
    params = {"p_id": row_id, "p_service": store.service_id, "p_token": uuid.uuid4().hex, "p_lease": lease_seconds}
    with store.db.begin() as conn:
        row = conn.execute(_claim_statement(store), params).mappings().first()
        if row is not None:
            store.add_event(conn, row_id, "claimed", status=states.SENDING)
    return row


def overdue(store: Store, *, older_than: float, limit: int) -> list[str]:
    """Ids of up to ``limit`` rows of this service that are waiting (``queued`` or
    ``retrying-send-to-notify``) and have been due for more than ``older_than`` seconds,
    transactional before bulk, longest due first: the rows whose wake-up was lost."""
    with store.db.connect() as conn:
        now = store.db.now()
        return list(
            conn.execute(
                select(C.id)
                .where(C.service_id == store.service_id, C.status.in_(states.CLAIMABLE),
                       C.next_attempt_at <= now - older_than)
                .order_by(C.priority, C.next_attempt_at)
                .limit(limit)
            ).scalars()
        )


def release_waiting(store: Store, lease_seconds: float) -> None:
    """Make rows claimable whose time has come without a worker: leases that expired
    (the holder died; the row becomes ``retrying-send-to-notify``, marked ``maybe_sent``)
    and ``held`` rows past their time. This is the first half of the worker's claim,
    which with a limit of 0 claims nothing itself."""
    store.claim(0, lease_seconds)


def due_in(store: Store, row_id: str) -> float | None:
    """Seconds until a waiting row is due (0 or less: due now), or None when it is not
    waiting (in flight, held, final, unknown, another service's)."""
    with store.db.connect() as conn:
        left = conn.execute(
            select(C.next_attempt_at - store.db.now())
            .where(C.id == row_id, C.service_id == store.service_id, C.status.in_(states.CLAIMABLE))
        ).scalar()
    return None if left is None else float(left)
