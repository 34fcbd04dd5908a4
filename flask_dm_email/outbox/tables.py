"""The outbox's tables, on one :class:`~sqlalchemy.MetaData` that Flask-Migrate/Alembic
can be given (``dm_email.outbox.metadata``).

Times are seconds since the epoch (UTC) as floating point, taken from the database's
own clock, so every process and machine agrees on what is due and when a lease ends.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

#: The version of the tables below; a worker refuses to run against another
#: (the changes are listed in :mod:`flask_dm_email.outbox.schema`).
SCHEMA_VERSION = 3

#: The unique indexes that make a ``dedupe_key``, and a bulk row's recipient in its batch,
#: unique within one Notify service (version 3; before, they were unique across services).
DEDUPE_INDEX = "uq_dm_email_outbox_service_dedupe_key"
BATCH_KEY_INDEX = "uq_dm_email_outbox_service_batch_key"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

outbox = Table(
    "dm_email_outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("service_id", String(36), nullable=False),
    Column("status", String(32), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("template_id", String(36), nullable=False),
    Column("template_name", String(200)),
    # Personal data: purged DM_EMAIL_RETENTION_DAYS after a final status.
    Column("to_address", Text),
    Column("personalisation", JSON),
    Column("to_hash", String(64), nullable=False),
    Column("redirected", Boolean, nullable=False, default=False),
    Column("reference", String(1000), nullable=False),
    # The reference Notify got. Unique for queued rows (it holds the row id); a synchronous
    # send's row keeps the caller's own reference, which may repeat.
    Column("notify_reference", String(1000), nullable=False),
    Column("generation", Integer, nullable=False, default=1),
    Column("reply_to_id", String(36)),
    # Unique per Notify service (several apps may share one outbox database), as is a
    # bulk row's (batch_id, batch_key): see the two unique indexes below.
    Column("dedupe_key", String(400)),
    Column("batch_id", String(200)),
    Column("batch_key", String(400)),
    Column("link_type", String(100)),
    Column("link_id", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("abandon_after", Float, nullable=False),
    Column("lease_expires_at", Float),
    Column("claim_token", String(32)),
    Column("maybe_sent", Boolean, nullable=False, default=False),
    # When a lookup that finds nothing proves an unclear attempt was not stored.
    Column("settles_at", Float),
    Column("notify_id", String(36)),
    Column("last_error_class", String(100)),
    Column("last_status_code", SmallInteger),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("final_at", Float),
    Index(DEDUPE_INDEX, "service_id", "dedupe_key", unique=True),
    Index(BATCH_KEY_INDEX, "service_id", "batch_id", "batch_key", unique=True),
    Index("ix_dm_email_outbox_due", "status", "priority", "next_attempt_at"),
    Index("ix_dm_email_outbox_link", "link_type", "link_id"),
    Index("ix_dm_email_outbox_notify_id", "notify_id"),
    Index("ix_dm_email_outbox_notify_reference", "notify_reference"),
    Index("ix_dm_email_outbox_to_hash", "to_hash"),
    Index("ix_dm_email_outbox_final", "final_at"),
    # The status page: counts by status, the list newest first (all, or of one status),
    # and the latest outcomes, each an index walk rather than a scan and a sort. (A search
    # by reference scans: not worth an index every insert pays for.)
    Index("ix_dm_email_outbox_service_status", "service_id", "status", "created_at"),
    Index("ix_dm_email_outbox_service_created", "service_id", "created_at"),
    Index("ix_dm_email_outbox_service_final", "service_id", "final_at"),
)

event = Table(
    "dm_email_event",
    metadata,
    # The cursor of the event feed: it only increases.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("outbox_id", String(36), nullable=False),
    Column("type", String(40), nullable=False),
    Column("status", String(32)),
    Column("http_status", SmallInteger),
    Column("error_class", String(100)),
    Column("at", Float, nullable=False),
    Index("ix_dm_email_event_outbox_id", "outbox_id"),
    # Never reuse an id, even the highest after retention or an erasure deleted it: a feed
    # reader's cursor would pass over the new event (PostgreSQL's sequence never reuses).
    sqlite_autoincrement=True,
)

meta = Table(
    "dm_email_meta",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
)

#: The shared rate budget, when it lives in SQL: one row per limiter key
#: (``notify:{service id}``). ``tat`` is GCRA's theoretical arrival time (epoch seconds
#: from the database's clock); ``day``/``day_count`` count today's sends (UTC).
limit = Table(
    "dm_email_limit",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("tat", Float, nullable=False),
    Column("rate", Float, nullable=False),
    Column("burst", Integer, nullable=False),
    Column("day", String(10), nullable=False),
    Column("day_count", Integer, nullable=False, default=0),
)

#: A named bulk batch (``enqueue_many(..., batch=name)``): its rows carry the name in
#: ``dm_email_outbox.batch_id``. ``invalid`` counts the rows the latest run skipped.
batch = Table(
    "dm_email_batch",
    metadata,
    Column("service_id", String(36), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("template_id", String(36), nullable=False),
    Column("template_name", String(200)),
    Column("invalid", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("cancelled_at", Float),
)
