"""Reading the outbox tables: rows, counts, timelines. No writes here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import RowMapping, bindparam, func, select

from . import states
from .database import Database
from .tables import event, outbox

C = outbox.c

# A receipt's lookups, built once: they run on every callback, and building a select of
# every column (and adapting the cached compilation to a new statement object) cost more
# than SQLite running it.
# Every lookup by an id is of this service's rows only: apps sharing one outbox database
# (each its own Notify service) never see or steer each other's emails.
_MINE = C.service_id == bindparam("service_id")
_BY_ID = select(outbox).where(C.id == bindparam("row_id"), _MINE)
_BY_NOTIFY_ID = select(outbox).where(C.notify_id == bindparam("notify_id"), _MINE)
# By reference only a row whose notification Notify's id is not yet recorded (a receipt
# that came before the worker recorded the send): a synchronous send's reference is the
# caller's and may repeat, and a row with its own notify_id is another notification's.
_BY_NOTIFY_REFERENCE = select(outbox).where(C.notify_reference == bindparam("reference"), C.notify_id.is_(None),
                                            _MINE)


class StoreReads:
    """The read half of :class:`~flask_dm_email.outbox.store.Store`."""

    db: Database
    service_id: str

    def now_value(self) -> float:
        """The database's clock now (seconds since the epoch)."""
        with self.db.connect() as conn:
            return float(conn.execute(select(self.db.now())).scalar_one())

    def get(self, row_id: str) -> RowMapping | None:
        """This service's row ``row_id``; None when there is none (or it is another
        service's)."""
        with self.db.connect() as conn:
            return conn.execute(_BY_ID, {"row_id": row_id, "service_id": self.service_id}).mappings().first()

    def find(self, *, limit: int = 100, **criteria: Any) -> Sequence[RowMapping]:
        """Rows matching every ``column=value`` given, newest first."""
        query = select(outbox).where(C.service_id == self.service_id)
        for name, value in criteria.items():
            query = query.where(outbox.c[name] == value)
        with self.db.connect() as conn:
            return conn.execute(query.order_by(C.created_at.desc()).limit(limit)).mappings().all()

    def by_notify(self, notify_id: str | None, reference: str | None) -> RowMapping | None:
        """The row a receipt is about: by Notify's id, else by the reference we sent
        (this service's rows only)."""
        with self.db.connect() as conn:
            if notify_id:
                row = conn.execute(_BY_NOTIFY_ID, {"notify_id": notify_id, "service_id": self.service_id}
                                   ).mappings().first()
                if row is not None:
                    return row
            if reference:
                return conn.execute(_BY_NOTIFY_REFERENCE, {"reference": reference, "service_id": self.service_id}
                                    ).mappings().first()
        return None

    def counts(self) -> dict[str, int]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(C.status, func.count()).where(C.service_id == self.service_id).group_by(C.status)
            ).all()
        return {status: int(count) for status, count in rows}

    def due_count(self) -> int:
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        C.service_id == self.service_id,
                        C.status.in_(states.CLAIMABLE | {states.SENDING}),
                        C.next_attempt_at <= self.db.now(),
                    )
                ).scalar_one()
            )

    def oldest_due_age(self) -> float | None:
        """Seconds the longest-waiting due email has been due, or None when none is due."""
        now = self.db.now()
        with self.db.connect() as conn:
            age = conn.execute(
                select(now - func.min(C.next_attempt_at)).where(
                    C.service_id == self.service_id, C.status.in_(states.CLAIMABLE), C.next_attempt_at <= now
                )
            ).scalar()
        return None if age is None else max(0.0, float(age))

    def recent_outcomes(self, last: int = 1000) -> dict[str, int]:
        """How the last ``last`` emails Notify finished ended: {status: count}."""
        recent = (
            select(C.status)
            .where(C.service_id == self.service_id, C.status.in_(states.NOTIFY_OUTCOMES))
            .order_by(C.final_at.desc())
            .limit(last)
            .subquery()
        )
        with self.db.connect() as conn:
            rows = conn.execute(select(recent.c.status, func.count()).group_by(recent.c.status)).all()
        return {status: int(count) for status, count in rows}

    def unsettled(self, statuses: Iterable[str], *, older_than: float, limit: int) -> Sequence[RowMapping]:
        """Rows with Notify but without an outcome, unchanged for ``older_than`` seconds."""
        with self.db.connect() as conn:
            return (
                conn.execute(
                    select(outbox)
                    .where(
                        C.service_id == self.service_id,
                        C.status.in_(list(statuses)),
                        C.notify_id.is_not(None),
                        C.updated_at <= self.db.now() - older_than,
                    )
                    .order_by(C.updated_at)
                    .limit(limit)
                )
                .mappings()
                .all()
            )

    def events_of(self, row_id: str) -> Sequence[RowMapping]:
        """The timeline of this service's row ``row_id`` (empty for another service's)."""
        mine = select(C.id).where(C.id == row_id, C.service_id == self.service_id)
        with self.db.connect() as conn:
            return conn.execute(
                select(event).where(event.c.outbox_id == row_id, event.c.outbox_id.in_(mine)).order_by(event.c.id)
            ).mappings().all()

    def iter_rows(self, *, statuses: Iterable[str]) -> Iterator[RowMapping]:
        with self.db.connect() as conn:
            yield from conn.execute(
                select(outbox).where(C.service_id == self.service_id, C.status.in_(list(statuses)))
            ).mappings()
