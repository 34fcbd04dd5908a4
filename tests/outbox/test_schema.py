"""The outbox's schema version: an outbox made by an earlier version is brought up to
date by ``flask dm-email outbox upgrade``, and a worker refuses to run until it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import MetaData, UniqueConstraint, func, inspect, select, text, update

from flask_dm_email import DMEmail
from flask_dm_email.errors import EmailConfigError
from flask_dm_email.outbox.schema import VERSION_NAME
from flask_dm_email.outbox.tables import (
    BATCH_KEY_INDEX,
    DEDUPE_INDEX,
    SCHEMA_VERSION,
    meta,
    metadata,
    outbox,
)

from .test_cli import flask

STATUS_PAGE_INDEXES = {
    "ix_dm_email_outbox_service_status", "ix_dm_email_outbox_service_created", "ix_dm_email_outbox_service_final",
}


def store(app: Flask) -> Any:
    return app.extensions["dm_email"].outbox.store


def as_version_1(app: Flask) -> None:
    """Make the outbox look as version 1 left it: no batch table, no status-page indexes."""
    with store(app).db.begin() as conn:
        conn.execute(text("DROP TABLE dm_email_batch"))
        for name in STATUS_PAGE_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(update(meta).where(meta.c.name == VERSION_NAME).values(value="1"))


def upgrade_cut_short_at_the_copy(engine: Any, table_name: str) -> None:
    """Run ``upgrade`` with the database refusing the copy of ``table_name``'s rows into
    its rebuilt table, as another writer holding the lock too long would: it fails."""
    import sqlite3

    from sqlalchemy import event as sqlalchemy_event

    def locked(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith(f"INSERT INTO {table_name}"):  # the copy
            raise sqlite3.OperationalError("database is locked")

    sqlalchemy_event.listen(engine, "before_cursor_execute", locked)
    try:
        with pytest.raises(Exception, match="database is locked"):
            DMEmail.outbox.create_tables()
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", locked)


def indexes(app: Flask) -> set[str]:
    return {index["name"] for index in inspect(store(app).db.engine).get_indexes("dm_email_outbox")}


def test_the_worker_refuses_an_older_outbox_and_upgrade_brings_it_up_to_date(
    make_outbox_app: Callable[..., Flask], env: dict[str, str]
) -> None:
    app = make_outbox_app(DM_EMAIL_OUTBOX_URL=env["CRASH_OUTBOX_URL"])
    with app.app_context():
        as_version_1(app)
        assert not STATUS_PAGE_INDEXES & indexes(app)
        with pytest.raises(EmailConfigError,
                           match=rf"schema version 1, this worker needs {SCHEMA_VERSION}.*outbox upgrade"):
            store(app).check_schema()
    app.extensions["dm_email"].outbox.database.engine.dispose()

    worker = flask(env, "worker", "--once")
    assert worker.returncode == 1
    assert f"schema version 1, this worker needs {SCHEMA_VERSION}" in worker.stderr
    assert "Traceback" not in worker.stderr

    upgraded = flask(env, "outbox", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from schema version 1 to {SCHEMA_VERSION}" in upgraded.stdout
    again = flask(env, "outbox", "upgrade")
    assert f"already at schema version {SCHEMA_VERSION}" in again.stdout

    with app.app_context():
        assert indexes(app) >= STATUS_PAGE_INDEXES
        store(app).check_schema()
        result = DMEmail.outbox.enqueue_many([{"email_address": "a@gov.uk", "name": "A"}], template="welcome",
                                             batch="after-upgrade")
        assert result.queued == 1
    assert flask(env, "worker", "--once").returncode == 0


def test_tables_made_by_migrations_need_upgrade_once_to_record_the_version(
    make_outbox_app: Callable[..., Flask],
) -> None:
    app = make_outbox_app()
    with app.app_context():
        with store(app).db.begin() as conn:  # Alembic made the tables; nothing recorded a version
            conn.execute(meta.delete())
        with pytest.raises(EmailConfigError, match="schema version unknown"):
            store(app).check_schema()
        DMEmail.outbox.create_tables()
        store(app).check_schema()


def test_a_newer_outbox_asks_for_a_newer_flask_dm_email(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        with store(app).db.begin() as conn:
            conn.execute(update(meta).where(meta.c.name == VERSION_NAME).values(value=str(SCHEMA_VERSION + 1)))
        with pytest.raises(EmailConfigError, match="newer than this version of flask-dm-email knows") as refused:
            store(app).check_schema()
        assert "outbox upgrade" not in str(refused.value)  # it would not help
        # Nor does an older release's upgrade (a rollback) mark the newer tables as its own.
        with pytest.raises(EmailConfigError, match="nothing was changed"):
            DMEmail.outbox.create_tables()
        with store(app).db.connect() as conn:
            assert conn.execute(select(meta.c.value).where(meta.c.name == VERSION_NAME)).scalar() == str(
                SCHEMA_VERSION + 1)


def _queued_event_id(app: Flask, address: str) -> int:
    from flask_dm_email import queue_email
    from flask_dm_email.outbox.tables import event

    row_id = queue_email(address, "welcome", {"name": "A"}).id
    with store(app).db.connect() as conn:
        return int(conn.execute(select(event.c.id).where(event.c.outbox_id == row_id)).scalar_one())


def test_an_event_id_is_never_reused_after_the_newest_event_is_deleted(
    make_outbox_app: Callable[..., Flask],
) -> None:
    """Retention and erasure delete events; a feed reader's cursor must never pass over a
    new one that took a deleted id."""
    from flask_dm_email.outbox.tables import event

    app = make_outbox_app()
    with app.app_context():
        newest = _queued_event_id(app, "a@gov.uk")
        with store(app).db.begin() as conn:
            conn.execute(event.delete())  # e.g. an erasure of that address
        assert _queued_event_id(app, "b@gov.uk") > newest


def test_upgrade_rebuilds_an_sqlite_event_table_that_would_reuse_ids(tmp_path: Any, sim: Any,
                                                                      template_id: str) -> None:
    from flask_dm_email.outbox.tables import event

    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="memory", DM_NOTIFY_TEMPLATES={"welcome": template_id},
                      DM_EMAIL_OUTBOX_URL=f"sqlite:///{tmp_path / 'old.sqlite3'}")
    DMEmail(app)
    with app.app_context():
        DMEmail.outbox.create_tables()
        with store(app).db.begin() as conn:  # the event table as version 1 made it
            conn.execute(text("DROP TABLE dm_email_event"))
            conn.execute(text("CREATE TABLE dm_email_event (id INTEGER NOT NULL PRIMARY KEY, outbox_id VARCHAR(36) "
                              "NOT NULL, type VARCHAR(40) NOT NULL, status VARCHAR(32), http_status SMALLINT, "
                              "error_class VARCHAR(100), at FLOAT NOT NULL)"))
            conn.execute(text("CREATE INDEX ix_dm_email_event_outbox_id ON dm_email_event (outbox_id)"))
        first = _queued_event_id(app, "a@gov.uk")
        with store(app).db.begin() as conn:
            conn.execute(event.delete().where(event.c.id == first))
        assert _queued_event_id(app, "b@gov.uk") == first  # the old table reuses the id
        kept = _queued_event_id(app, "c@gov.uk")

        DMEmail.outbox.create_tables()  # flask dm-email outbox upgrade
        with store(app).db.connect() as conn:
            assert set(conn.execute(select(event.c.id)).scalars()) == {first, kept}  # events kept
            assert "AUTOINCREMENT" in conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'dm_email_event'")).scalar_one().upper()
        with store(app).db.begin() as conn:
            conn.execute(event.delete().where(event.c.id == kept))
        assert _queued_event_id(app, "d@gov.uk") > kept
        assert {i.name for i in event.indexes} <= {
            ix["name"] for ix in inspect(store(app).db.engine).get_indexes("dm_email_event")}


VERSION_1_EVENT_TABLE = (
    "CREATE TABLE dm_email_event (id INTEGER NOT NULL PRIMARY KEY, outbox_id VARCHAR(36) NOT NULL, "
    "type VARCHAR(40) NOT NULL, status VARCHAR(32), http_status SMALLINT, error_class VARCHAR(100), at FLOAT NOT NULL)"
)


def test_an_upgrade_cut_short_on_the_app_s_sqlite_engine_changes_nothing(tmp_path: Any, template_id: str) -> None:
    """With DM_EMAIL_OUTBOX_URL=sqlalchemy the rebuild runs on the app's Flask-SQLAlchemy
    engine, whose sqlite3 connection would commit each DDL statement on its own: a copy cut
    short (a lock, Ctrl-C) left the events in a table nothing reads, and the next upgrade
    said it had succeeded."""

    from flask_sqlalchemy import SQLAlchemy

    from flask_dm_email.outbox.tables import event

    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="memory", DM_NOTIFY_TEMPLATES={"welcome": template_id},
                      SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'app.sqlite3'}", DM_EMAIL_OUTBOX_URL="sqlalchemy")
    db = SQLAlchemy(app)
    DMEmail(app)
    with app.app_context():
        DMEmail.outbox.create_tables()
        with db.engine.begin() as conn:  # the event table as version 1 made it, with 3 events
            conn.execute(text("DROP TABLE dm_email_event"))
            conn.execute(text(VERSION_1_EVENT_TABLE))
            conn.execute(text("INSERT INTO dm_email_event (outbox_id, type, at) VALUES ('x', 'queued', 1), "
                              "('x', 'sent', 2), ('y', 'queued', 3)"))
            conn.execute(update(meta).where(meta.c.name == VERSION_NAME).values(value="1"))

        upgrade_cut_short_at_the_copy(db.engine, "dm_email_event")
        tables = set(inspect(db.engine).get_table_names())
        assert "dm_email_event_before_v2" not in tables
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM dm_email_event")).scalar_one() == 3  # as it was
            assert conn.execute(select(meta.c.value).where(meta.c.name == VERSION_NAME)).scalar() == "1"

        DMEmail.outbox.create_tables()  # run again: done
        with db.engine.connect() as conn:
            assert sorted(conn.execute(select(event.c.id, event.c.at)).all()) == [(1, 1.0), (2, 2.0), (3, 3.0)]
            assert "AUTOINCREMENT" in conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'dm_email_event'")).scalar_one().upper()


# -- version 3: dedupe keys and batches unique per Notify service -----------------------

PER_SERVICE_INDEXES = {DEDUPE_INDEX, BATCH_KEY_INDEX}


def as_version_2(app: Flask, *, record: bool = True) -> None:
    """Make the (empty) outbox table as version 2 made it: ``dedupe_key`` and
    ``(batch_id, batch_key)`` unique constraints, across every service."""
    old = MetaData(naming_convention=metadata.naming_convention)
    table = outbox.to_metadata(old)
    table.indexes = {index for index in table.indexes if index.name not in PER_SERVICE_INDEXES}
    table.append_constraint(UniqueConstraint("dedupe_key"))
    table.append_constraint(UniqueConstraint("batch_id", "batch_key"))
    engine = store(app).db.engine
    outbox.drop(engine)
    table.create(engine)
    if record:
        record_version_2(app)


def record_version_2(app: Flask) -> None:
    with store(app).db.begin() as conn:
        conn.execute(update(meta).where(meta.c.name == VERSION_NAME).values(value="2"))


def unique_column_sets(app: Flask) -> set[tuple[str, ...]]:
    found = inspect(store(app).db.engine)
    return ({tuple(c["column_names"]) for c in found.get_unique_constraints("dm_email_outbox")}
            | {tuple(i["column_names"]) for i in found.get_indexes("dm_email_outbox") if i["unique"]})


@pytest.fixture
def second_service(sim: Any) -> dict[str, str]:
    """Config for an app of another Notify service (its own key and template)."""
    service = sim.add_service(name="Second app")["id"]
    template = sim.add_template(service, name="Welcome", subject="Hello ((name))", body="Dear ((name))")
    return {"DM_NOTIFY_KEY": sim.create_api_key(service, key_type="test"), "DM_NOTIFY_TEMPLATES": {"welcome": template}}


def test_upgrade_from_version_2_makes_keys_and_batches_per_service_keeping_rows(
    make_outbox_app: Callable[..., Flask], second_service: dict[str, Any]
) -> None:
    from flask_dm_email import queue_email
    from flask_dm_email.outbox.tables import event

    rows = [{"email_address": f"person{n}@gov.uk", "name": f"P{n}"} for n in range(3)]
    app_a = make_outbox_app()
    app_b = make_outbox_app(**second_service)
    with app_a.app_context():
        as_version_2(app_a, record=False)
        assert unique_column_sets(app_a) >= {("dedupe_key",), ("batch_id", "batch_key")}
        keyed = queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="k1")
        assert DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news").queued == 3
        record_version_2(app_a)  # the rows as version 2 wrote them
        with store(app_a).db.connect() as conn:
            rows_before = conn.execute(select(outbox).order_by(outbox.c.id)).mappings().all()
            events_before = conn.execute(select(event).order_by(event.c.id)).mappings().all()
        with pytest.raises(EmailConfigError, match=f"schema version 2, this worker needs {SCHEMA_VERSION}"):
            store(app_a).check_schema()
    with app_b.app_context():  # B's code is new, the tables not yet: a clear error, not A's row or batch
        with pytest.raises(EmailConfigError, match="outbox upgrade"):
            queue_email("someone@gov.uk", "welcome", {"name": "B"}, dedupe_key="k1")
        with pytest.raises(EmailConfigError, match="outbox upgrade"):
            DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news")

    with app_a.app_context():
        DMEmail.outbox.create_tables()  # flask dm-email outbox upgrade
        store(app_a).check_schema()
        assert indexes(app_a) >= PER_SERVICE_INDEXES | STATUS_PAGE_INDEXES
        uniques = unique_column_sets(app_a)
        assert ("dedupe_key",) not in uniques and ("batch_id", "batch_key") not in uniques
        with store(app_a).db.connect() as conn:  # every row and event kept as it was
            assert conn.execute(select(outbox).order_by(outbox.c.id)).mappings().all() == rows_before
            assert conn.execute(select(event).order_by(event.c.id)).mappings().all() == events_before
        # The existing rows dedupe as before, for their own service.
        assert queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="k1").id == keyed.id
        again = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news")
        assert (again.queued, again.already_queued) == (0, 3)
    with app_b.app_context():
        own = queue_email("someone@gov.uk", "welcome", {"name": "B"}, dedupe_key="k1")
        assert own.id != keyed.id and own.dedupe_key == "k1"
        result = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news")
        assert (result.queued, result.already_queued) == (3, 0)

    with app_a.app_context():
        DMEmail.outbox.create_tables()  # again: nothing to do, nothing lost
        with store(app_a).db.connect() as conn:
            assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == len(rows_before) + 4
        assert indexes(app_a) >= PER_SERVICE_INDEXES
        assert queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="k1").id == keyed.id


def test_an_outbox_rebuild_cut_short_on_sqlite_changes_nothing(tmp_path: Any, template_id: str) -> None:
    """SQLite cannot drop a table's unique constraint: the outbox table is rebuilt, in one
    transaction with the version's record, even on the app's Flask-SQLAlchemy engine."""

    from flask_sqlalchemy import SQLAlchemy

    from flask_dm_email import queue_email

    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="memory", DM_NOTIFY_TEMPLATES={"welcome": template_id},
                      SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'app.sqlite3'}", DM_EMAIL_OUTBOX_URL="sqlalchemy")
    db = SQLAlchemy(app)
    DMEmail(app)
    with app.app_context():
        DMEmail.outbox.create_tables()
        as_version_2(app)
        keyed = queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="k1")
        queue_email("other@gov.uk", "welcome", {"name": "B"})

        upgrade_cut_short_at_the_copy(db.engine, "dm_email_outbox")
        assert "dm_email_outbox_before_v3" not in set(inspect(db.engine).get_table_names())
        assert ("dedupe_key",) in unique_column_sets(app)  # as it was
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM dm_email_outbox")).scalar_one() == 2
            assert conn.execute(select(meta.c.value).where(meta.c.name == VERSION_NAME)).scalar() == "2"

        DMEmail.outbox.create_tables()  # run again: done
        assert ("dedupe_key",) not in unique_column_sets(app)
        assert indexes(app) >= PER_SERVICE_INDEXES | STATUS_PAGE_INDEXES
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM dm_email_outbox")).scalar_one() == 2
            assert conn.execute(select(meta.c.value).where(meta.c.name == VERSION_NAME)).scalar() == str(
                SCHEMA_VERSION)
        assert queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="k1").id == keyed.id


def test_the_app_s_own_indexes_and_triggers_on_the_outbox_survive_the_sqlite_rebuild(
    make_outbox_app: Callable[..., Flask], outbox_url: str
) -> None:
    if not outbox_url.startswith("sqlite"):
        pytest.skip("SQLite rebuilds the table; PostgreSQL drops the constraints in place")
    app = make_outbox_app()
    with app.app_context():
        as_version_2(app)
        with store(app).db.begin() as conn:  # what a team may have added for its own reports
            conn.execute(text("CREATE INDEX app_ix_outbox_template ON dm_email_outbox (template_id)"))
            conn.execute(text("CREATE TRIGGER app_tr_outbox AFTER UPDATE ON dm_email_outbox BEGIN SELECT 1; END"))
        DMEmail.outbox.create_tables()  # flask dm-email outbox upgrade: the table is rebuilt
        store(app).check_schema()
        with store(app).db.connect() as conn:
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE tbl_name = 'dm_email_outbox'"))
                        .scalars())
    assert {"app_ix_outbox_template", "app_tr_outbox"} <= names
