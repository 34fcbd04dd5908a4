"""The outbox tables' schema: creating them, bringing an older outbox up to date, and the
version a worker checks before it runs.

:data:`~flask_dm_email.outbox.tables.SCHEMA_VERSION` counts the changes an existing
outbox needs:

1. the first tables (outbox, event, meta, limit);
2. the ``dm_email_batch`` table (bulk sends) and the status page's three indexes on
   ``dm_email_outbox``; on SQLite, ``dm_email_event`` ids that are never reused
   (``AUTOINCREMENT``: the table is rebuilt, its events kept);
3. a ``dedupe_key``, and a bulk row's recipient in its batch (``batch_id``,
   ``batch_key``), unique per Notify service (``service_id``) rather than across the
   database, so apps sharing one outbox database never take each other's keys or batch
   names: the unique indexes ``uq_dm_email_outbox_service_dedupe_key`` and
   ``uq_dm_email_outbox_service_batch_key`` replace the unique constraints on
   ``dedupe_key`` and on ``(batch_id, batch_key)``. On PostgreSQL the two indexes are
   built (writes wait, reads go on), then the old constraints dropped; on SQLite, which
   cannot drop a table's constraint, ``dm_email_outbox`` is rebuilt, its rows kept.
   Stored values do not change: an existing row's key still dedupes for its service.

Every step adds what is missing, so bringing an outbox up to date is
:func:`create_tables` again: ``flask dm-email outbox upgrade``. The steps after creating
the tables run in one transaction with the version's record: an upgrade cut short
changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Insert, Table, column, insert, inspect, select, table, text
from sqlalchemy.schema import CreateTable, DropIndex

from ..errors import EmailConfigError
from .tables import SCHEMA_VERSION, event, meta, metadata, outbox

if TYPE_CHECKING:
    from .store import Store

#: The ``dm_email_meta`` row holding the tables' version.
VERSION_NAME = "schema_version"

#: What was unique across every service before version 3 (now unique per service).
_ACROSS_SERVICES = (("dedupe_key",), ("batch_id", "batch_key"))


def stored_version(store: Store) -> int | None:
    """The version recorded in the tables; None when none is (no tables, or tables made
    by migrations that never ran ``upgrade``).

    :raises Exception: the database's own error when it cannot be read.
    """
    with store.db.connect() as conn:
        found = conn.execute(select(meta.c.value).where(meta.c.name == VERSION_NAME)).scalar()
    return int(found) if found is not None and str(found).isdigit() else None


def create_tables(store: Store) -> tuple[int | None, int]:
    """Create what is missing (tables, then indexes an older version did not have) and
    record the version: ``(version before, version now)``."""
    try:
        before = stored_version(store)
    except Exception:  # no tables yet
        before = None
    if before is not None and before > SCHEMA_VERSION:
        # An older release's upgrade (a rollback, say) must not mark newer tables as its own:
        # its workers would then run on tables they do not know.
        check_schema(store)
    metadata.create_all(store.db.engine)
    with store.db.begin() as conn:
        if store.db.dialect == "sqlite":
            # SQLite's DDL is transactional, but Python's sqlite3 (as the app's Flask-SQLAlchemy
            # engine uses it) begins a transaction only before INSERT, UPDATE or DELETE: begin
            # one first, so an upgrade cut short (a lock, Ctrl-C) leaves the tables as they were.
            if not conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            _never_reuse_event_ids(conn)
            _rebuild_sqlite_outbox_unique_across_services(conn)
        for index in outbox.indexes:  # an outbox made by an earlier version gets the newer indexes
            index.create(conn, checkfirst=True)
        # After the per-service unique indexes exist (on PostgreSQL, building them lets reads
        # go on; dropping a constraint locks the table, until the commit just after).
        _drop_unique_across_services(conn)
        store.upsert_meta(conn, VERSION_NAME, str(SCHEMA_VERSION))
    return before, SCHEMA_VERSION


def _unique_across_services(conn: Connection) -> tuple[list[str], list[str]]:
    """``(constraints, indexes)``: the names of the outbox's unique constraints and
    (plain) unique indexes that make a column set of :data:`_ACROSS_SERVICES` unique
    across services. On SQLite a constraint is its automatic index (it has no name)."""
    if conn.dialect.name == "sqlite":
        constraints: list[str] = []
        indexes: list[str] = []
        for found in conn.exec_driver_sql(f'PRAGMA index_list("{outbox.name}")').mappings().all():
            if not found["unique"] or found["origin"] not in ("u", "c"):
                continue
            columns = tuple(info["name"] for info in conn.exec_driver_sql(
                f'PRAGMA index_info("{found["name"]}")').mappings().all())
            if columns in _ACROSS_SERVICES:
                (constraints if found["origin"] == "u" else indexes).append(found["name"])
        return constraints, indexes
    inspector = inspect(conn)
    constraints = [found["name"] for found in inspector.get_unique_constraints(outbox.name)
                   if tuple(found["column_names"]) in _ACROSS_SERVICES and found["name"]]
    indexes = [found["name"] for found in inspector.get_indexes(outbox.name)
               if found["unique"] and tuple(found["column_names"]) in _ACROSS_SERVICES and found["name"]
               and found["name"] not in constraints and not found.get("duplicates_constraint")]
    return constraints, indexes


def _drop_unique_across_services(conn: Connection) -> None:
    quote = conn.dialect.identifier_preparer.quote
    constraints, indexes = _unique_across_services(conn)
    for name in indexes:
        conn.execute(text(f"DROP INDEX {quote(name)}"))
    if conn.dialect.name != "sqlite":
        for name in constraints:
            conn.execute(text(f"ALTER TABLE {quote(outbox.name)} DROP CONSTRAINT {quote(name)}"))


def _rebuild_sqlite_outbox_unique_across_services(conn: Connection) -> None:
    """Rebuild an SQLite outbox table whose ``dedupe_key`` or ``(batch_id, batch_key)``
    is a unique constraint (SQLite cannot drop one), keeping its rows; the caller then
    creates its indexes."""
    if not _unique_across_services(conn)[0]:
        return
    # The app's own indexes and triggers on the table (not ours: the caller makes those)
    # go with the old table: made again on the new one, as they were.
    ours = {index.name for index in outbox.indexes}
    theirs = [sql for sql, name in conn.execute(
        text("SELECT sql, name FROM sqlite_master WHERE tbl_name = :table AND type IN ('index', 'trigger') "
             "AND sql IS NOT NULL ORDER BY type"), {"table": outbox.name}).all() if name not in ours]
    old = f"{outbox.name}_before_v3"
    for found in conn.exec_driver_sql(f'PRAGMA index_list("{outbox.name}")').mappings().all():
        if found["origin"] == "c":  # made by CREATE INDEX: the new table gets its own
            conn.execute(text(f'DROP INDEX "{found["name"]}"'))
    conn.execute(text(f'ALTER TABLE "{outbox.name}" RENAME TO "{old}"'))
    conn.execute(CreateTable(outbox))
    present = {info["name"] for info in conn.exec_driver_sql(f'PRAGMA table_info("{old}")').mappings().all()}
    conn.execute(_copy(outbox, old, [c.name for c in outbox.columns if c.name in present]))
    conn.execute(text(f'DROP TABLE "{old}"'))
    for sql in theirs:
        conn.exec_driver_sql(sql)


def _copy(to: Table, old: str, names: list[str]) -> Insert:
    """``INSERT INTO to (names) SELECT names FROM old``: a rebuilt table's rows."""
    return insert(to).from_select(names, select(*(column(name) for name in names)).select_from(table(old)))


def _never_reuse_event_ids(conn: Connection) -> None:
    """Rebuild an SQLite event table made without ``AUTOINCREMENT`` (which reuses the
    highest id once it is deleted), keeping its events and their ids."""
    made_as = conn.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": event.name}
    ).scalar()
    old = f"{event.name}_before_v2"
    copy = _copy(event, old, [c.name for c in event.columns])
    if made_as is not None and "AUTOINCREMENT" in made_as.upper():
        # Rebuilt already. An earlier version of this step could be cut short after the
        # rebuild and before the copy: finish it.
        left = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": old}
        ).scalar()
        if left:
            conn.execute(copy.prefix_with("OR IGNORE"))
            conn.execute(text(f'DROP TABLE "{old}"'))
        return
    if made_as is None:
        return
    for index in event.indexes:
        conn.execute(DropIndex(index, if_exists=True))
    conn.execute(text(f'ALTER TABLE "{event.name}" RENAME TO "{old}"'))
    event.create(conn)
    conn.execute(copy)
    conn.execute(text(f'DROP TABLE "{old}"'))


def schema_problem(store: Store) -> str | None:
    """Why a worker must not run against these tables, or None."""
    try:
        found = stored_version(store)
    except Exception as error:  # no tables yet, or no database
        return f"the outbox tables cannot be read ({type(error).__name__})"
    if found != SCHEMA_VERSION:
        if found is not None and found > SCHEMA_VERSION:
            return (f"the outbox tables in {store.db.description} are at schema version {found}, newer than this "
                    f"version of flask-dm-email knows ({SCHEMA_VERSION}): upgrade flask-dm-email on this machine "
                    "(nothing was changed)")
        return f"the outbox tables are at schema version {found or 'unknown'}, this worker needs {SCHEMA_VERSION}"
    return None


def check_schema(store: Store) -> None:
    """Raise :class:`EmailConfigError` unless the tables are the version expected."""
    problem = schema_problem(store)
    if problem:
        if "newer than this version" not in problem:
            problem += (". Run 'flask dm-email outbox upgrade' (after your own migrations, if they own the "
                        "tables) for the database at " + store.db.description)
        raise EmailConfigError([("DM_EMAIL_OUTBOX_URL", problem + ".")])
