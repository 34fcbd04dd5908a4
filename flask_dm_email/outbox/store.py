"""Every read and write of the outbox tables: small statements, each a compare-and-set.

A row changes only when it is still in the status (and, while a worker holds it, under
the claim token) the writer last saw, and every change adds an event in the same
transaction. A worker that lost its lease, or a receipt that arrives twice, changes
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Float, RowMapping, and_, bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from ..errors import EmailConfigError
from . import schema, states
from .database import Database
from .reads import StoreReads
from .tables import event, meta, outbox

C = outbox.c
# Columns queue_email and enqueue_many give; the rest come from the clock or defaults.
_INSERTED = frozenset(
    {
        "id", "service_id", "status", "priority", "template_id", "template_name", "to_address", "personalisation",
        "to_hash", "redirected", "reference", "notify_reference", "generation", "reply_to_id", "dedupe_key",
        "batch_id", "batch_key", "link_type", "link_id", "attempts", "maybe_sent",
    }
)
_PAUSED = "paused"


class Store(StoreReads):
    """The outbox of one Notify service in one database: the writes (reads in
    :class:`~flask_dm_email.outbox.reads.StoreReads`)."""

    def __init__(self, db: Database, service_id: str) -> None:
        self.db = db
        self.service_id = service_id
        self._cached_row_insert: Any = None
        self._cached_event_insert: Any = None
        self._finish_statements: dict[tuple[Any, ...], Any] = {}
        self._cached_claimed_insert: Any = None

    # -- schema ----------------------------------------------------------------------

    def create_tables(self) -> None:
        """Create what is missing and record the version (:mod:`.schema`)."""
        schema.create_tables(self)

    def schema_problem(self) -> str | None:
        """Why a worker must not run against these tables, or None (:mod:`.schema`)."""
        return schema.schema_problem(self)

    def check_schema(self) -> None:
        """Raise :class:`~flask_dm_email.errors.EmailConfigError` unless the tables are
        the version expected."""
        schema.check_schema(self)

    def upsert_meta(self, conn: Connection, name: str, value: str) -> None:
        changed = conn.execute(update(meta).where(meta.c.name == name).values(value=value)).rowcount
        if not changed:
            conn.execute(self._insert_ignore(meta).values(name=name, value=value))

    def _insert_ignore(self, table: Any) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` in this database's words."""
        if self.db.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if self.db.dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        return insert(table)

    # -- the pause flag (global: every worker of every process reads it) ---------------

    def paused(self) -> bool:
        with self.db.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.name == f"{_PAUSED}:{self.service_id}")).scalar()
        return value == "1"

    def set_paused(self, paused: bool, reason: str) -> bool:
        """Set the pause flag; True only for the one call that changed it, even when
        several workers pause at the same moment (so one pause alerts once)."""
        name = f"{_PAUSED}:{self.service_id}"
        value = "1" if paused else "0"
        with self.db.begin() as conn:
            # A conditional UPDATE: concurrent callers queue on the row, and only the
            # first finds the old value.
            changed = conn.execute(
                update(meta).where(meta.c.name == name, meta.c.value != value).values(value=value)
            ).rowcount
            if not changed:
                inserted = conn.execute(
                    self._insert_ignore(meta).values(name=name, value=value).returning(meta.c.name)
                ).first()
                if inserted is None or not paused:
                    return False
            self.add_event(conn, "", "paused" if paused else "resumed", error_class=reason[:100] or None)
        return True

    # -- events ----------------------------------------------------------------------

    def add_event(
        self,
        conn: Connection,
        row_id: str,
        kind: str,
        *,
        status: str | None = None,
        http_status: int | None = None,
        error_class: str | None = None,
    ) -> None:
        # One statement compiled once: the values travel as parameters.
        conn.execute(
            self._event_insert(),
            {"outbox_id": row_id, "type": kind, "status": status, "http_status": http_status,
             "error_class": error_class},
        )

    def _event_insert(self) -> Any:
        if self._cached_event_insert is None:
            self._cached_event_insert = event.insert().values(
                outbox_id=bindparam("outbox_id"), type=bindparam("type"), status=bindparam("status"),
                http_status=bindparam("http_status"), error_class=bindparam("error_class"), at=self.db.now(),
            )
        return self._cached_event_insert

    def add_events(self, conn: Connection, row_ids: Iterable[str], kind: str, *, status: str) -> None:
        """The same event for many rows, in one round trip."""
        params = [{"outbox_id": row_id, "type": kind, "status": status, "http_status": None, "error_class": None}
                  for row_id in row_ids]
        if params:
            conn.execute(self._event_insert(), params)

    def note(self, row_id: str, kind: str, *, status: str | None = None) -> None:
        """Record an event that changes nothing (e.g. a status Notify added later)."""
        with self.db.begin() as conn:
            self.add_event(conn, row_id, kind, status=status)

    # -- writing ---------------------------------------------------------------------

    def _row_insert(self) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING RETURNING *`` with the database's clock,
        compiled once (queue_email is on a request's path)."""
        if self._cached_row_insert is None:
            now = self.db.now()
            due = now + bindparam("delay", type_=Float)
            columns: dict[str, Any] = {c.name: bindparam(c.name) for c in outbox.c if c.name in _INSERTED}
            self._cached_row_insert = (
                self._insert_ignore(outbox)
                .values(**columns, next_attempt_at=due, abandon_after=due + bindparam("abandon", type_=Float),
                        created_at=now, updated_at=now)
                .returning(*outbox.c)
            )
        return self._cached_row_insert

    def insert_claimed(self, values: Mapping[str, Any], *, lease_seconds: float, abandon_after: float) -> str:
        """Insert a row already claimed by its caller (a synchronous send in progress);
        returns its claim token. If the caller dies, the lease runs out and a worker looks
        the email up."""
        token = uuid.uuid4().hex
        if self._cached_claimed_insert is None:
            now = self.db.now()
            columns: dict[str, Any] = {c.name: bindparam(c.name) for c in outbox.c if c.name in _INSERTED}
            self._cached_claimed_insert = insert(outbox).values(
                **columns, claim_token=bindparam("claim_token"),
                lease_expires_at=now + bindparam("lease", type_=Float), next_attempt_at=now,
                abandon_after=now + bindparam("abandon", type_=Float), created_at=now, updated_at=now,
            )
        params: dict[str, Any] = dict.fromkeys(_INSERTED)
        params.update(values)
        params.update(service_id=self.service_id, status=states.SENDING, attempts=0, generation=1, maybe_sent=False,
                      claim_token=token, lease=lease_seconds, abandon=abandon_after)
        with self.db.begin() as conn:
            conn.execute(self._cached_claimed_insert, params)
            self.add_event(conn, values["id"], "sending-now", status=states.SENDING)
        return token

    def insert(self, values: Mapping[str, Any], *, delay: float | None, abandon_after: float,
               conn: Connection | None = None) -> tuple[RowMapping, bool]:
        """Insert a queued row; ``(row, True)``, or the existing row and False when its
        ``dedupe_key`` (or batch key) is already taken in this service."""
        if conn is None:
            with self.db.begin() as own:
                return self.insert(values, delay=delay, abandon_after=abandon_after, conn=own)
        params: dict[str, Any] = dict.fromkeys(_INSERTED)
        params.update(values)
        params.update(service_id=self.service_id, status=states.QUEUED, attempts=0, generation=1,
                      maybe_sent=False, delay=delay or 0.0, abandon=abandon_after)
        row = conn.execute(self._row_insert(), params).mappings().first()
        if row is not None:
            self.add_event(conn, values["id"], "queued", status=states.QUEUED)
            return row, True
        return self._find_duplicate(conn, values), False

    def _find_duplicate(self, conn: Connection, values: Mapping[str, Any]) -> RowMapping:
        # Keys are unique per service: another service's row with the same key is not ours.
        if values.get("dedupe_key") is not None:
            where: ColumnElement[bool] = C.dedupe_key == values["dedupe_key"]
        else:
            where = and_(C.batch_id == values.get("batch_id"), C.batch_key == values.get("batch_key"))
        found = conn.execute(select(outbox).where(C.service_id == self.service_id, where)).mappings().first()
        if found is None:  # taken by another service's row: tables older than schema version 3
            raise EmailConfigError([(
                "DM_EMAIL_OUTBOX_URL",
                "has outbox tables whose dedupe keys and batches are shared by every Notify service in the "
                "database (schema version 2 or older), and another service has this key: run 'flask dm-email "
                f"outbox upgrade' for the database at {self.db.description}.",
            )])
        return found

    def claim(self, limit: int, lease_seconds: float) -> list[RowMapping]:
        """Take up to ``limit`` due rows, transactional before bulk, oldest due first.

        Rows whose lease expired become claimable again first, marked ``maybe_sent``: the
        worker that held them may have posted them. Held rows whose time has come are
        queued again. Each claimed row gets a fresh claim token (its fencing token).
        """
        with self.db.begin() as conn:
            now = self.db.now()
            mine = C.service_id == self.service_id
            # The lease outlasts a request and its time in flight, so what the holder may
            # have posted is settled now; an earlier unclear attempt may settle later still.
            settles = case((C.settles_at > now, C.settles_at), else_=now)
            expired = conn.execute(
                update(outbox)
                .where(mine, C.status == states.SENDING, C.lease_expires_at < now)
                .values(
                    status=states.RETRYING, maybe_sent=True, settles_at=settles, next_attempt_at=now,
                    attempts=C.attempts + 1, claim_token=None, lease_expires_at=None, updated_at=now,
                )
                .returning(C.id)
            ).scalars().all()
            for row_id in expired:
                self.add_event(conn, row_id, "lease-expired", status=states.RETRYING)
            woken = conn.execute(
                update(outbox)
                .where(mine, C.status == states.HELD, C.next_attempt_at <= now)
                .values(status=states.QUEUED, updated_at=now)
                .returning(C.id)
            ).scalars().all()
            self.add_events(conn, woken, "released", status=states.QUEUED)
            due = (
                select(C.id)
                .where(mine, C.status.in_(states.CLAIMABLE), C.next_attempt_at <= now)
                .order_by(C.priority, C.next_attempt_at)
                .limit(limit)
            )
            if self.db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            token = uuid.uuid4().hex
            claimed = conn.execute(
                update(outbox)
                .where(C.id.in_(due.scalar_subquery()), C.status.in_(states.CLAIMABLE))
                .values(status=states.SENDING, claim_token=token, lease_expires_at=now + lease_seconds, updated_at=now)
                .returning(*outbox.c)
            ).mappings().all()
            for row in claimed:
                self.add_event(conn, row["id"], "claimed", status=states.SENDING)
        return sorted(claimed, key=lambda r: (r["priority"], r["next_attempt_at"]))

    def renew(self, row_id: str, token: str, lease_seconds: float) -> bool:
        """Extend a held lease; False if the row is no longer this worker's."""
        with self.db.begin() as conn:
            now = self.db.now()
            return bool(
                conn.execute(
                    update(outbox)
                    .where(C.id == row_id, C.claim_token == token, C.status == states.SENDING)
                    .values(lease_expires_at=now + lease_seconds, updated_at=now)
                ).rowcount
            )

    def finish(
        self,
        row_id: str,
        token: str,
        new_status: str,
        values: Mapping[str, Any] | None = None,
        *,
        kind: str,
        http_status: int | None = None,
        error_class: str | None = None,
        delay: float | None = None,
        settles_in: float | None = None,
    ) -> bool:
        """Record what happened to a claimed row (compare-and-set on its claim token).
        False when the worker lost the row (its lease expired, or a receipt already moved
        it further on): then nothing changes."""
        assert states.can_move(states.SENDING, new_status)
        values = dict(values or {})
        statement = self._finish_statement(new_status, tuple(sorted(values)), delay is not None,
                                           settles_in is not None)
        params = {f"v_{name}": value for name, value in values.items()}
        params.update(p_row_id=row_id, p_token=token, p_delay=delay, p_settles=settles_in)
        with self.db.begin() as conn:
            changed = conn.execute(statement, params).rowcount
            if changed:
                self.add_event(conn, row_id, kind, status=new_status, http_status=http_status, error_class=error_class)
            return bool(changed)

    def _finish_statement(self, new_status: str, names: tuple[str, ...], delay: bool, settles: bool) -> Any:
        """The compare-and-set UPDATE of :meth:`finish`, compiled once per shape (a
        worker records every row it sends)."""
        key = (new_status, names, delay, settles)
        statement = self._finish_statements.get(key)
        if statement is None:
            now = self.db.now()
            columns: dict[str, Any] = {name: bindparam(f"v_{name}") for name in names}
            if delay:
                columns["next_attempt_at"] = now + bindparam("p_delay", type_=Float)
            if settles:
                columns["settles_at"] = now + bindparam("p_settles", type_=Float)
            if new_status in states.FINAL:
                columns["final_at"] = now
            if new_status == states.SENT:
                columns["sent_at"] = now
            statement = (
                update(outbox)
                .where(C.id == bindparam("p_row_id"), C.claim_token == bindparam("p_token"),
                       C.status == states.SENDING)
                .values(status=new_status, claim_token=None, lease_expires_at=None, updated_at=now, **columns)
            )
            self._finish_statements[key] = statement
        return statement

    def move(
        self,
        row_id: str,
        new_status: str,
        *,
        kind: str,
        values: Mapping[str, Any] | None = None,
        only_from: Iterable[str] | None = None,
        http_status: int | None = None,
        error_class: str | None = None,
        delay: float | None = None,
    ) -> tuple[str | None, str | None]:
        """Move a row that no worker holds (receipts, cancels, retries): ``(old, new)``
        when it moved; ``(current, None)`` when the move is not allowed (recorded as an
        ``<kind>-ignored`` event); ``(None, None)`` for an unknown row (or another
        service's)."""
        allowed = states.sources_of(new_status)
        if only_from is not None:
            allowed &= frozenset(only_from)
        for _ in range(5):
            with self.db.begin() as conn:
                current = conn.execute(
                    select(C.status).where(C.id == row_id, C.service_id == self.service_id)
                ).scalar()
                if current is None:
                    return None, None
                if current not in allowed:
                    self.add_event(conn, row_id, f"{kind}-ignored", status=current, http_status=http_status,
                                   error_class=error_class)
                    return current, None
                now = self.db.now()
                extra: dict[str, Any] = dict(values or {})
                if delay is not None:
                    extra["next_attempt_at"] = now + delay
                if new_status in states.FINAL:
                    extra["final_at"] = now
                elif current in states.FINAL:
                    # Out of a final status (a cancelled email Notify had after all, an
                    # operator's retry): not final, so not purged as if it were.
                    extra["final_at"] = None
                changed = conn.execute(
                    update(outbox)
                    .where(C.id == row_id, C.service_id == self.service_id, C.status == current)
                    .values(status=new_status, claim_token=None, lease_expires_at=None, updated_at=now, **extra)
                ).rowcount
                if changed:
                    self.add_event(conn, row_id, kind, status=new_status, http_status=http_status,
                                   error_class=error_class)
                    return current, new_status
        return None, None  # pragma: no cover - five lost races in a row

    # -- retention -------------------------------------------------------------------

    def purge(self, retention_days: float) -> int:
        """Clear the address and personalisation of rows final for longer than
        ``retention_days``; hashes, ids, statuses and events stay."""
        with self.db.begin() as conn:
            cutoff = self.db.now() - retention_days * 86400
            return int(
                conn.execute(
                    update(outbox)
                    .where(C.service_id == self.service_id, C.final_at < cutoff, C.to_address.is_not(None))
                    .values(to_address=None, personalisation=None)
                ).rowcount
            )
