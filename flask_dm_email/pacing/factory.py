"""A limiter store from a URL (the value of ``DM_EMAIL_LIMITER_URL``)."""

from __future__ import annotations

from .memory import MemoryStore
from .store import LimitStore

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def open_store(url: str) -> LimitStore:
    """The store at ``url``:

    * ``memory``: this process only;
    * ``redis://…``, ``rediss://…``, ``unix://…``: Redis (the ``[redis]`` extra);
    * any other SQLAlchemy URL (``sqlite:///…``, ``postgresql+psycopg://…``): that
      database's ``dm_email_limit`` table, created if missing.

    To share the outbox's own database, build
    :class:`~flask_dm_email.pacing.sql.SqlStore` on its ``Database`` instead.

    :raises ValueError: naming only the URL's scheme (a URL may hold a password).
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.strip().lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme in _REDIS_SCHEMES:
        from .redis import RedisStore

        return RedisStore.from_url(url)
    if scheme.split("+", 1)[0] in ("sqlite", "postgresql"):
        # Imported here: the SQL store brings in the outbox package.
        from ..outbox.database import Database, make_engine
        from .sql import SqlStore

        engine = make_engine(url)
        store = SqlStore(Database(lambda: engine, scheme, shared_app_engine=False))
        store.create_table()
        return store
    raise ValueError(
        f"DM_EMAIL_LIMITER_URL: {scheme!r} is not a limiter store. Use 'memory', a redis:// URL, or a "
        "SQLite or PostgreSQL URL such as postgresql+psycopg://user@host/db"
    )
