"""Real services for the tests: PostgreSQL, Redis and RabbitMQ on this machine.

A test that needs one skips with a reason when it is not running (a laptop), but fails
when ``DM_EMAIL_REQUIRE_SERVICES=1`` (set by ``.ci/run``): a green CI means it ran.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_URL = os.environ.get("DM_EMAIL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DM_EMAIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("DM_EMAIL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) unless ``name`` answers on ``host:port``."""
    if _listening(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if os.environ.get("DM_EMAIL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}, and DM_EMAIL_REQUIRE_SERVICES=1 says it must be")
    pytest.skip(message)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards."""
    from sqlalchemy import create_engine, make_url, text

    url = make_url(POSTGRES_URL)
    require("PostgreSQL", url.host or "127.0.0.1", url.port or 5432)

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def require_url(name: str, url: str, default_port: int) -> None:
    """:func:`require` for a service given by URL, e.g.
    ``require_url("RabbitMQ", RABBITMQ_URL, 5672)``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    require(name, parts.hostname or "127.0.0.1", parts.port or default_port)
