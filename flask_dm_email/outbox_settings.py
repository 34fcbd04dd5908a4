"""The outbox's settings: where it lives on each stage, and its timings.

| ``DM_EMAIL_OUTBOX_URL`` | meaning |
| --- | --- |
| unset, development | SQLite in the instance folder, ``dm_email.sqlite3`` |
| unset, test | an in-memory SQLite shared by the app's threads |
| unset, preview/staging/production | no outbox: ``queue_email`` raises a config error |
| ``sqlalchemy`` | the app's Flask-SQLAlchemy engine (joins ``session=`` transactions) |
| any SQLAlchemy URL | that database, e.g. ``postgresql+psycopg://user@host/db`` |
| ``off`` | no outbox on any stage: synchronous sends only, and no row for them |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config_keys import DM_EMAIL_LEASE_SECONDS, DM_EMAIL_OUTBOX_URL, DM_NOTIFY_IN_FLIGHT_SECONDS
from .retry import IN_FLIGHT_BOUND, RetryPolicy
from .stages import Stage

#: Seed 004's retry schedule: seconds before each retry.
DEFAULT_RETRY_SCHEDULE = (5.0, 10.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0)
SQLALCHEMY_MODE = "sqlalchemy"
EMBEDDED_DEVELOPMENT = "development-embedded"
MEMORY = "memory"
OFF = "off"


@dataclass(frozen=True)
class OutboxSettings:
    """Where the outbox lives and how it paces retries.

    :param location: a SQLAlchemy URL, ``sqlalchemy`` (the app's engine),
        ``development-embedded`` (SQLite in the instance folder), ``memory`` (the test
        stage) or None (no outbox).
    """

    location: str | None = None
    retention_days: float = 7.0
    #: Days the events of a final row stay (``DM_EMAIL_EVENT_RETENTION_DAYS``).
    event_retention_days: float = 90.0
    lease_seconds: float = 120.0
    abandon_after: float = 3600.0
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    embedded_worker: bool = True

    @property
    def enabled(self) -> bool:
        return self.location is not None


#: Query parameters of a database or Redis URL that carry a secret (libpq accepts a
#: password as ``?password=``).
_SECRET_PARAMETERS = frozenset({"password", "sslpassword", "pass", "token", "secret"})
_SECRET_IN_QUERY = re.compile(
    r"([?&](?:" + "|".join(sorted(_SECRET_PARAMETERS)) + r")=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A database or Redis URL with any password replaced, for output: in the user info
    (``user:secret@``) and in the query (``?password=secret``).

    The user info ends at the *last* ``@``: a generated password often holds ``/``, ``?``
    or ``#`` (which SQLAlchemy accepts there), and a parser that ends the host part at
    them finds no password and shows it all. A secret query parameter is hidden up to
    the next ``&``, ``#`` included (SQLAlchemy reads no fragment). Reading too much as a
    secret only hides more than needed."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url  # not a URL ("outbox", "memory")
    userinfo, at, after = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:<redacted>@{after}"
    rest = _SECRET_IN_QUERY.sub(r"\g<1><redacted>", rest)
    return f"{scheme}://{rest}"


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def build_outbox_settings(
    data: Mapping[str, Any], stage: Stage, retry: RetryPolicy, problems: list[tuple[str, str]]
) -> OutboxSettings:
    """The outbox settings from the schema's output; problems are appended."""
    url = data.get("outbox_url")
    if url is None:
        location = {Stage.DEVELOPMENT: EMBEDDED_DEVELOPMENT, Stage.TEST: MEMORY}.get(stage)
    elif url.lower() == OFF:
        location = None
    elif url == SQLALCHEMY_MODE or "://" in url:
        location = url
    else:
        location = None
        problems.append(
            (
                DM_EMAIL_OUTBOX_URL,
                "must be a SQLAlchemy database URL (e.g. postgresql+psycopg://user@host/db), "
                "'sqlalchemy' to use the app's Flask-SQLAlchemy engine, or 'off'.",
            )
        )
    defaults = OutboxSettings()
    settings = OutboxSettings(
        location=location,
        retention_days=_or(data.get("retention_days"), defaults.retention_days),
        event_retention_days=_or(data.get("event_retention_days"), defaults.event_retention_days),
        lease_seconds=_or(data.get("lease_seconds"), defaults.lease_seconds),
        abandon_after=_or(data.get("abandon_after"), defaults.abandon_after),
        retry_schedule=_or(data.get("retry_schedule"), defaults.retry_schedule),
        embedded_worker=_or(data.get("embedded_worker"), defaults.embedded_worker),
    )
    needed = retry.timeout + retry.in_flight_bound + 5
    if settings.lease_seconds < needed:
        problems.append(
            (
                DM_EMAIL_LEASE_SECONDS,
                f"must be at least {needed:g} seconds (the request timeout, plus "
                f"{retry.in_flight_bound:g} s a request may still be on its way, plus 5): a "
                "lease that ends sooner lets another worker resend an email still in flight.",
            )
        )
    if stage.is_live and retry.in_flight_bound < IN_FLIGHT_BOUND:
        problems.append(
            (
                DM_NOTIFY_IN_FLIGHT_SECONDS,
                f"may not be lowered below {IN_FLIGHT_BOUND:g} on {stage.value}: real Notify can "
                "accept a delayed request for that long. Remove it.",
            )
        )
    return settings
