"""The SQL of bulk batches: a thousand rows a transaction, and whole-batch cancels
and retries.

On PostgreSQL a chunk travels as one JSON parameter that the server unpacks
(``json_to_recordset``): a single short ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
whose text never changes, so psycopg and the server parse it once however many rows it
carries (a 1,000-row ``VALUES`` list cost psycopg 0.35 s a chunk just to parse). On SQLite,
in-process, the one prepared ``INSERT ... ON CONFLICT DO NOTHING`` runs once per row
(``executemany``, the driver's C loop over plain tuples): cheaper than unpacking JSON with
``json_each``. The conflict on (service_id, batch_id, batch_key) is what makes running a
batch again add nothing twice; a batch of the same name in another Notify service (another
app sharing the database) is another batch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Float,
    FromClause,
    RowMapping,
    String,
    Text,
    bindparam,
    cast,
    column,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from . import states
from .bulk_csv import BulkInputError
from .store import Store
from .tables import batch, event, outbox

C = outbox.c
B = batch.c

#: The outbox columns that differ from row to row in a batch (the rest are the batch's).
ROW_FIELDS: Mapping[str, Any] = {
    "id": String, "to_address": Text, "personalisation": JSON, "to_hash": String, "redirected": Boolean,
    "reference": String, "notify_reference": String, "batch_key": String,
}


#: SQLite's page cache while a chunk is inserted, in KB.
_SQLITE_CHUNK_CACHE_KB = 8192


class BatchCancelled(BulkInputError):
    """The batch was cancelled while (or before) its rows were being queued."""


class BatchStore:
    """Bulk batches in one outbox database, for one Notify service."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self._row_insert: Any = None
        self._sqlite_insert: tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] | None = None

    # -- JSON parameters -------------------------------------------------------------

    def _records(self, name: str, fields: Mapping[str, Any]) -> tuple[FromClause, dict[str, ColumnElement[Any]]]:
        """A JSON array of objects in parameter ``name``, as rows with ``fields``."""
        if self.db.dialect == "postgresql":
            records = func.json_to_recordset(cast(bindparam(name, type_=Text), postgresql.JSON)).table_valued(
                *(column(field, postgresql.JSON if kind is JSON else kind) for field, kind in fields.items())
            ).render_derived(with_types=True)
            return records, {field: records.c[field] for field in fields}
        each = func.json_each(bindparam(name, type_=Text)).table_valued("value")
        return each, {field: func.json_extract(each.c.value, f"$.{field}") for field in fields}

    def _insert_ignore(self) -> Any:
        if self.db.dialect == "postgresql":
            return postgresql.insert(outbox)
        if self.db.dialect == "sqlite":
            return sqlite.insert(outbox)
        raise BulkInputError(f"Bulk sends need SQLite or PostgreSQL, not {self.db.dialect}.")

    def _rows_statement(self) -> Any:
        if self._row_insert is None:
            records, fields = self._records("rows", ROW_FIELDS)
            now = self.db.now()
            shared: dict[str, Any] = {
                "service_id": bindparam("service_id"), "status": literal(states.QUEUED),
                "priority": bindparam("priority"),
                "template_id": bindparam("template_id"), "template_name": bindparam("template_name", type_=String),
                "generation": literal(1), "batch_id": bindparam("batch_id"), "attempts": literal(0),
                "maybe_sent": false(), "next_attempt_at": now,
                "abandon_after": now + bindparam("abandon", type_=Float), "created_at": now, "updated_at": now,
            }
            chosen = select(*fields.values(), *shared.values()).select_from(records)
            # SQLite reads "FROM json_each(?) ON CONFLICT" ambiguously without a WHERE.
            chosen = chosen.where(true())
            self._row_insert = (
                self._insert_ignore().from_select([*fields, *shared], chosen).on_conflict_do_nothing()
                .returning(C.id)
            )
        return self._row_insert

    def _insert_sqlite(self, conn: Connection, rows: Sequence[Mapping[str, Any]],
                       shared: Mapping[str, Any]) -> set[str]:
        """SQLite's way: the one prepared ``INSERT ... ON CONFLICT DO NOTHING`` run for each
        row (``executemany``, in the driver's C loop), values as plain tuples."""
        constants = {"status": states.QUEUED, "generation": 1, "attempts": 0, "maybe_sent": False}
        if self._sqlite_insert is None:
            now = self.db.now()
            values: dict[str, Any] = {field: bindparam(field) for field in (*ROW_FIELDS, *constants, *shared)}
            values.update(next_attempt_at=now, abandon_after=now + values.pop("abandon"), created_at=now,
                          updated_at=now)
            compiled = sqlite.insert(outbox).values(values).on_conflict_do_nothing().compile(dialect=conn.dialect)
            self._sqlite_insert = compiled.string, itemgetter(*compiled.positiontup or ())
        sql, in_order = self._sqlite_insert
        dumps = json.dumps
        # The page cache holds the index pages one chunk touches (about 1,500 once the
        # outbox has 50,000 rows; SQLite's default 2 MB re-reads and spills them), for this
        # transaction only: the pooled connection gets its own size back.
        default_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CHUNK_CACHE_KB}")
        try:
            # The JSON column as SQLAlchemy's JSON type writes it (json.dumps); none is NULL.
            done = conn.exec_driver_sql(sql, [
                in_order({**constants, **shared, **row, "personalisation": None if row["personalisation"] is None
                          else dumps(row["personalisation"])})
                for row in rows
            ])
        finally:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(default_cache)}")
        ids = [row["id"] for row in rows]
        if done.rowcount == len(ids):
            return set(ids)
        # Some were left alone (their recipient was queued before): the new rows are the
        # ids now present, as every id was made for this chunk.
        records, fields = self._records("ids", {"id": String})
        return set(conn.execute(select(C.id).where(C.id.in_(select(fields["id"]).select_from(records))),
                                {"ids": json.dumps([{"id": row_id} for row_id in ids])}).scalars())

    def _add_events(self, conn: Connection, row_ids: Sequence[str], kind: str, status: str) -> None:
        if not row_ids:
            return
        records, fields = self._records("ids", {"id": String})
        conn.execute(
            insert(event).from_select(
                ["outbox_id", "type", "status", "at"],
                select(fields["id"], literal(kind), literal(status), self.db.now()).select_from(records),
            ),
            {"ids": json.dumps([{"id": row_id} for row_id in row_ids])},
        )

    # -- the batch's own row -----------------------------------------------------------

    def _where(self, name: str) -> ColumnElement[bool]:
        return (B.service_id == self.store.service_id) & (B.name == name)

    def get(self, name: str) -> RowMapping | None:
        with self.db.connect() as conn:
            return conn.execute(select(batch).where(self._where(name))).mappings().first()

    def failed_without_personalisation(self, name: str) -> int:
        """How many of the batch's failed emails (their address kept) have no
        personalisation: they failed under a version that cleared it."""
        with self.db.connect() as conn:
            return int(conn.execute(
                select(func.count()).select_from(outbox).where(
                    C.service_id == self.store.service_id, C.batch_id == name, C.status == states.FAILED,
                    C.to_address.is_not(None),
                    # None is stored as JSON's null (the column keeps JSON's own nulls).
                    or_(C.personalisation.is_(None), cast(C.personalisation, Text) == "null"),
                )
            ).scalar_one())

    def names(self, limit: int = 10) -> list[str]:
        """The newest batches' names."""
        with self.db.connect() as conn:
            return list(conn.execute(
                select(B.name).where(B.service_id == self.store.service_id).order_by(B.created_at.desc()).limit(limit)
            ).scalars())

    def start(self, name: str, template_id: str, template_name: str | None) -> None:
        """Record the batch, or find it from an earlier run.

        :raises BulkInputError: the batch exists with another template, or was cancelled.
        """
        with self.db.begin() as conn:
            found = conn.execute(select(batch).where(self._where(name)).with_for_update()).mappings().first()
            if found is None:
                now = self.db.now()
                conn.execute(insert(batch).values(
                    service_id=self.store.service_id, name=name, template_id=template_id,
                    template_name=template_name, invalid=0, created_at=now, updated_at=now,
                ))
                return
        if found["cancelled_at"] is not None:
            raise BatchCancelled(f"Batch {name!r} was cancelled, so nothing more is queued in it. "
                                 "Use a new batch name to send again.")
        if found["template_id"] != template_id:
            raise BulkInputError(
                f"Batch {name!r} was started with template {found['template_name'] or found['template_id']!r}, "
                "not this one. Run it again with that template, or use a new batch name."
            )

    def finish(self, name: str, invalid: int) -> None:
        with self.db.begin() as conn:
            conn.execute(update(batch).where(self._where(name)).values(invalid=invalid, updated_at=self.db.now()))

    # -- queueing ----------------------------------------------------------------------

    def insert_rows(self, name: str, rows: Sequence[Mapping[str, Any]], *, template_id: str,
                    template_name: str | None, priority: int, abandon_after: float) -> set[str]:
        """Queue ``rows`` (one transaction); the ids inserted. A row whose batch key is
        taken is left as it is.

        :raises BatchCancelled: the batch was cancelled meanwhile (nothing of this chunk is queued).
        """
        with self.db.begin() as conn:
            # Locks the batch row on PostgreSQL, so a cancel waits for this chunk or this
            # chunk sees the cancel: no row is queued after a cancel.
            cancelled = conn.execute(select(B.cancelled_at).where(self._where(name)).with_for_update()).scalar()
            if cancelled is not None:
                raise BatchCancelled(f"Batch {name!r} was cancelled while it was being queued; the rest of "
                                     "the rows were not queued.")
            shared = {"service_id": self.store.service_id, "priority": priority, "template_id": template_id,
                      "template_name": template_name, "batch_id": name, "abandon": abandon_after}
            if self.db.dialect == "sqlite":
                inserted = self._insert_sqlite(conn, rows, shared)
            else:
                params = {"rows": json.dumps(list(rows)), **shared}
                inserted = set(conn.execute(self._rows_statement(), params).scalars())
            self._add_events(conn, [row["id"] for row in rows if row["id"] in inserted], "queued", states.QUEUED)
            return inserted

    def rows(self, row_ids: Sequence[str]) -> list[RowMapping]:
        """The rows with these ids (for ``email_queued``)."""
        records, fields = self._records("ids", {"id": String})
        with self.db.connect() as conn:
            return list(conn.execute(
                select(outbox).where(C.service_id == self.store.service_id,
                                     C.id.in_(select(fields["id"]).select_from(records))),
                {"ids": json.dumps([{"id": row_id} for row_id in row_ids])},
            ).mappings())

    def existing_keys(self, name: str, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` the batch has queued already (for a dry run)."""
        records, fields = self._records("keys", {"key": String})
        with self.db.connect() as conn:
            return set(conn.execute(
                select(C.batch_key).where(
                    C.service_id == self.store.service_id, C.batch_id == name,
                    C.batch_key.in_(select(fields["key"]).select_from(records)),
                ),
                {"keys": json.dumps([{"key": key} for key in keys])},
            ).scalars())

    # -- the batch as a whole ------------------------------------------------------------

    def counts(self, name: str) -> dict[str, int]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(C.status, func.count()).where(C.service_id == self.store.service_id, C.batch_id == name)
                .group_by(C.status)
            ).all()
        return {status: int(count) for status, count in rows}

    def recent_rate(self, name: str, window: float) -> float:
        """Emails a second Notify accepted from the batch over the last ``window`` seconds,
        or since its first one if that is later (a batch that started sending 10 s ago is
        not averaged over a minute)."""
        now = self.db.now()
        with self.db.connect() as conn:
            sent, span = conn.execute(
                select(func.count(), now - func.min(C.sent_at)).where(
                    C.service_id == self.store.service_id, C.batch_id == name, C.sent_at >= now - window)
            ).one()
        return 0.0 if not sent else int(sent) / max(float(span or 0.0), 1.0)

    def cancel(self, name: str) -> tuple[list[str], int]:
        """Cancel the batch: every row not yet with Notify, and any row a running send
        would still add. Rows in flight finish. The ids cancelled, and how many of them
        had an unclear last attempt (Notify may have them after all)."""
        with self.db.begin() as conn:
            now = self.db.now()
            conn.execute(update(batch).where(self._where(name), B.cancelled_at.is_(None))
                         .values(cancelled_at=now, updated_at=now))
            cancelled = conn.execute(
                update(outbox)
                .where(C.service_id == self.store.service_id, C.batch_id == name,
                       C.status.in_(states.CANCELLABLE))
                .values(status=states.CANCELLED, final_at=now, updated_at=now, claim_token=None,
                        lease_expires_at=None)
                .returning(C.id, C.maybe_sent)
            ).all()
            ids = [row.id for row in cancelled]
            self._add_events(conn, ids, "cancelled", states.CANCELLED)
        return ids, sum(1 for row in cancelled if row.maybe_sent)

    def retry_failed(self, name: str, abandon_after: float,
                     personalisation: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
        """Queue the batch's ``failed-send-to-notify`` rows again, each as a new generation
        with its own notify reference (rows whose address was purged stay failed).

        :param personalisation: ``[{"batch_key": ..., "personalisation": {...}}]``: only
            these rows, with these values as their personalisation. None: every failed
            row, as it is (a failed row keeps its personalisation until the purge).
        """
        with self.db.begin() as conn:
            now = self.db.now()
            generation = C.generation + 1
            values: dict[str, Any] = {
                "status": states.QUEUED, "generation": generation, "attempts": 0, "maybe_sent": False,
                "settles_at": None, "final_at": None, "last_error_class": None, "last_status_code": None,
                "next_attempt_at": now, "abandon_after": now + abandon_after, "updated_at": now,
                "notify_reference": C.reference + "-" + C.id + "-" + cast(generation, String),
            }
            statement = update(outbox).where(
                C.service_id == self.store.service_id, C.batch_id == name, C.status == states.FAILED,
                C.to_address.is_not(None),
            )
            params: dict[str, Any] = {}
            if personalisation is not None:
                records, fields = self._records("rows", {"batch_key": String, "personalisation": JSON})
                statement = statement.where(C.batch_key == fields["batch_key"])
                values["personalisation"] = fields["personalisation"]
                params["rows"] = json.dumps(list(personalisation))
                del records  # in the UPDATE's FROM through the columns above
            ids = list(conn.execute(statement.values(**values).returning(C.id), params).scalars())
            self._add_events(conn, ids, "operator-retry", states.QUEUED)
        return ids
