"""A limiter store in a SQL database (the outbox's, by default): shared by every process
and machine that uses the database, with nothing more to run.

Every operation is one short write transaction that locks the key's row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the
database's write lock), reads the database's clock *after* taking the lock, decides
with the pure functions in :mod:`~flask_dm_email.pacing.gcra` and
:mod:`~flask_dm_email.pacing.daily`, and writes the row back. Reading the clock only
once the lock is held matters: a clock read while waiting for the lock would be stale,
and would hand out a slot in the past.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..outbox.database import Database
from ..outbox.tables import limit as limit_table
from .daily import count_one, uncount_one, utc_day
from .errors import LimiterWaitTooLong
from .gcra import push_back as pushed_back_tat
from .gcra import reserve as reserve_slot
from .store import LimitSnapshot, RateConflicts, make_snapshot

C = limit_table.c
# A row that exists only to be locked: a rate of 0 means "no sender has reserved yet".
_PLACEHOLDER = {"tat": 0.0, "rate": 0.0, "burst": 0, "day": "", "day_count": 0}


class _Stored(NamedTuple):
    tat: float
    rate: float
    burst: int
    day: str
    day_count: int

    @property
    def gcra_tat(self) -> float | None:
        """The tat, or None while no sender has reserved (the row is a placeholder, or
        was made by the daily count)."""
        return self.tat if self.rate else None


class SqlStore:
    """A store on the ``dm_email_limit`` table, through the outbox's :class:`Database`
    (SQLite or PostgreSQL). The table is created with the outbox's tables; a separate
    limiter database needs :meth:`create_table`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._conflicts = RateConflicts()

    def create_table(self) -> None:
        """Create ``dm_email_limit`` if it does not exist."""
        limit_table.create(self.database.engine, checkfirst=True)

    # -- the locked read-decide-write -------------------------------------------------

    def _insert_placeholder(self, key: str) -> Any:
        dialect = self.database.dialect
        if dialect == "postgresql":
            return postgresql.insert(limit_table).values(key=key, **_PLACEHOLDER).on_conflict_do_nothing()
        if dialect == "sqlite":
            return sqlite.insert(limit_table).values(key=key, **_PLACEHOLDER).on_conflict_do_nothing()
        raise NotImplementedError(f"the SQL limiter store supports SQLite and PostgreSQL, not {dialect}")

    def _locked(self, conn: Connection, key: str) -> tuple[_Stored, float]:
        """The key's row, locked until the transaction ends, and the database's clock."""
        query = select(C.tat, C.rate, C.burst, C.day, C.day_count).where(C.key == key).with_for_update()
        row = conn.execute(query).first()
        if row is None:
            # Two first users may both get here: ON CONFLICT DO NOTHING lets the second
            # wait for the first's row instead of failing.
            conn.execute(self._insert_placeholder(key))
            row = conn.execute(query).one()
        now = float(conn.execute(select(self.database.now())).scalar_one())
        return _Stored(*row), now

    def _write(self, conn: Connection, key: str, **values: Any) -> None:
        conn.execute(update(limit_table).where(C.key == key).values(**values))

    # -- the store interface ----------------------------------------------------------

    def reserve(self, key: str, rate: float, burst: int, max_wait: float) -> float:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.reserve`."""
        with self.database.begin() as conn:
            row, now = self._locked(conn, key)
            stored = row.gcra_tat
            self._conflicts.check(key, row.rate, row.burst, rate, burst)
            decision = reserve_slot(stored, now, rate, burst, max_wait)
            if decision.admitted or stored is None:
                self._write(conn, key, tat=decision.tat, rate=rate, burst=burst)
        if not decision.admitted:
            raise LimiterWaitTooLong(key, decision.wait, max_wait)
        return decision.wait

    def push_back(self, key: str, rate: float, burst: int) -> None:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.push_back`."""
        with self.database.begin() as conn:
            row, now = self._locked(conn, key)
            tat = pushed_back_tat(row.gcra_tat, now, rate, burst)
            self._write(conn, key, tat=tat, rate=rate, burst=burst)

    def take_daily(self, key: str, limit: int) -> bool:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.take_daily`."""
        with self.database.begin() as conn:
            row, now = self._locked(conn, key)
            today = utc_day(now)
            allowed, count = count_one(row.day, row.day_count, today, limit)
            if allowed:
                self._write(conn, key, day=today, day_count=count)
        return allowed

    def give_back_daily(self, key: str) -> None:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.give_back_daily`."""
        with self.database.begin() as conn:
            row, now = self._locked(conn, key)
            today = utc_day(now)
            self._write(conn, key, day=today, day_count=uncount_one(row.day, row.day_count, today))

    def snapshot(self, key: str) -> LimitSnapshot:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.snapshot`."""
        with self.database.connect() as conn:
            found = conn.execute(select(C.tat, C.rate, C.burst, C.day, C.day_count).where(C.key == key)).first()
            now = float(conn.execute(select(self.database.now())).scalar_one())
        row = _Stored(*found) if found is not None else _Stored(0.0, 0.0, 0, "", 0)
        return make_snapshot(now, utc_day(now), row.gcra_tat, row.rate, row.burst, row.day, row.day_count)
