"""``queue_email``: the request's half of the send path.

Everything is decided now, with the same rules as ``send_email`` (template, Notify's
address rules, the stage's recipient policy, the reference), so bad input fails in the
request with the same clear errors; the row is written in the caller's transaction when
one is given, so a rolled-back request queues nothing and a committed one loses nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import scoped_session

from ..errors import EmailConfigError, EmailError, EmailTemplateError
from ..sending import MAX_REFERENCE_LENGTH, SendRequest, prepare, report_failure
from ..signals import email_queued
from ..state import current_app_object, get_state
from .records import PRIORITIES, QueuedEmail
from .watch import check_stalled

logger = logging.getLogger("flask_dm_email.outbox")

#: Room kept in Notify's 1,000-character reference for ``-{row id}-{generation}``.
SUFFIX_ROOM = 50
MAX_QUEUED_REFERENCE = MAX_REFERENCE_LENGTH - SUFFIX_ROOM


def notify_reference(reference: str, row_id: str, generation: int) -> str:
    """The unique reference a row is sent with."""
    return f"{reference}-{row_id}" if generation == 1 else f"{reference}-{row_id}-{generation}"


def link_key(link: object) -> tuple[str | None, str | None]:
    """``(type, id)`` for a saved database object or a ``(type, id)`` pair."""
    if link is None:
        return None, None
    if isinstance(link, tuple) and len(link) == 2:
        return str(link[0]), str(link[1])
    try:
        identity = sa_inspect(link).identity
    except Exception:
        identity = None
    if not identity:
        raise EmailTemplateError(
            "link must be a saved database object (with a primary key) or a (type, id) pair, "
            "e.g. link=user or link=('user', 42)."
        )
    table = getattr(link, "__tablename__", None) or type(link).__name__.lower()
    return str(table), ",".join(map(str, identity))


def _delay(send_after: datetime | timedelta | float | None) -> float | None:
    if send_after is None:
        return None
    if isinstance(send_after, timedelta):
        return max(0.0, send_after.total_seconds())
    if isinstance(send_after, datetime):
        if send_after.tzinfo is None:
            raise EmailTemplateError("send_after must be timezone-aware, e.g. datetime.now(UTC) + timedelta(hours=1).")
        return max(0.0, (send_after - datetime.now(UTC)).total_seconds())
    if isinstance(send_after, (int, float)) and not isinstance(send_after, bool):
        return max(0.0, float(send_after))
    raise EmailTemplateError("send_after must be a datetime, a timedelta or a number of seconds.")


def queue_email(
    to: str,
    template: str,
    personalisation: Mapping[str, Any] | None = None,
    *,
    reference: str | None = None,
    reply_to_id: str | None = None,
    send_after: datetime | timedelta | float | None = None,
    priority: str = "transactional",
    link: object = None,
    dedupe_key: str | None = None,
    session: Any = None,
) -> QueuedEmail:
    """Queue one email in the outbox; a worker sends it.

    Same validation and policy as :func:`~flask_dm_email.send_email`, applied now.

    :param send_after: not before this time (aware datetime, timedelta or seconds).
    :param priority: ``"transactional"`` (default) or ``"bulk"``; transactional rows are
        always claimed first.
    :param link: a saved database object (its table and primary key are stored) or a
        ``(type, id)`` pair, to find the emails of, e.g., a user.
    :param dedupe_key: unique in this app's outbox (its Notify service's, when several
        apps share one database): a second ``queue_email`` with the same key returns the
        first row and queues nothing.
    :param session: a SQLAlchemy session (``db.session``) whose transaction the row joins:
        nothing is queued unless it commits. Only with ``DM_EMAIL_OUTBOX_URL=sqlalchemy``.
    :raises ~flask_dm_email.errors.EmailError: a subclass that says what to fix.
    """
    app = current_app_object()
    state = get_state(app)
    runtime = state.outbox
    if runtime is None:
        raise EmailConfigError(
            [
                (
                    "DM_EMAIL_OUTBOX_URL",
                    f"is not set on {state.settings.stage.value}, so there is no outbox to queue "
                    "in. Set it to 'sqlalchemy' (the app's Flask-SQLAlchemy database) or a "
                    "database URL, or use send_email to send now.",
                )
            ]
        )
    try:
        if priority not in PRIORITIES:
            raise EmailTemplateError("priority must be 'transactional' or 'bulk'.")
        if dedupe_key is not None and (not isinstance(dedupe_key, str) or not 0 < len(dedupe_key) <= 400):
            raise EmailTemplateError("dedupe_key must be a string of 1 to 400 characters.")
        delay = _delay(send_after)
        link_type, link_id = link_key(link)
        email = prepare(
            state, SendRequest(to, template, personalisation, reference, reply_to_id),
            max_reference=MAX_QUEUED_REFERENCE,
        )
    except EmailError as error:
        report_failure(app, error, None, template, reference)
        raise
    row_id = str(uuid.uuid4())
    values = {
        "id": row_id,
        "priority": PRIORITIES[priority],
        "template_id": email.template_id,
        "template_name": email.template_name,
        "to_address": email.to,
        "personalisation": dict(email.personalisation) if email.personalisation else None,
        "to_hash": email.to_hash,
        "redirected": email.redirected,
        "reference": email.reference,
        "notify_reference": notify_reference(email.reference, row_id, 1),
        "reply_to_id": email.reply_to_id,
        "dedupe_key": dedupe_key,
        "link_type": link_type,
        "link_id": link_id,
    }
    store = runtime.store
    if session is not None:
        if not runtime.database.shared_app_engine:
            raise EmailConfigError(
                [
                    (
                        "DM_EMAIL_OUTBOX_URL",
                        "must be 'sqlalchemy' for queue_email(session=...) to join your transaction: "
                        f"the outbox is in {runtime.database.description}, a different database. "
                        "Drop session=, or keep the outbox in the app's database.",
                    )
                ]
            )
        row, created = store.insert(values, delay=delay, abandon_after=runtime.settings.abandon_after,
                                    conn=session.connection())
        queued = QueuedEmail.from_row(row)
        # Say it is queued (email_queued), and wake a waiting worker and the listeners, when
        # the caller commits, not before: a rollback first means the row never existed.
        real_session = session() if isinstance(session, scoped_session) else session
        outcome: list[str] = []

        def committed(_session: Any) -> None:
            if not outcome:
                outcome.append("committed")
                runtime.wake(queued.id if created else None)
                if created:
                    # Inside the caller's commit, which has already happened: a receiver's
                    # error must not make the commit look failed (a retry would queue it
                    # again). Receivers must not use that session: it is mid-commit.
                    try:
                        email_queued.send(app, email=queued)
                    except Exception as error:
                        logger.error("An email_queued receiver failed (%s) for outbox row %s; the email is "
                                     "queued.", type(error).__name__, queued.id)

        event.listen(real_session, "after_commit", committed, once=True)
        event.listen(real_session, "after_rollback", lambda _session: outcome.append("rolled back"), once=True)
    else:
        row, created = store.insert(values, delay=delay, abandon_after=runtime.settings.abandon_after)
        queued = QueuedEmail.from_row(row)
        if created:
            email_queued.send(app, email=queued)
            runtime.wake(queued.id)
    check_stalled(app, store)
    return queued
