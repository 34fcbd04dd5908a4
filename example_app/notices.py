"""A notice to every active user, sent as one bulk batch.

:func:`send_notice` streams the active users into ``dm_email.outbox.enqueue_many`` under a
batch name; the outbox queues one email per recipient and leaves alone any recipient the
batch already has, so sending the same batch again adds nothing. The page in
:mod:`example_app.views` and ``flask --app example_app send-notice`` both call it.
:func:`progress` reads a batch back (``dm_email.outbox.batch(name)``) for the pages.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from flask_dm_email import EmailError
from flask_dm_email.outbox import BatchResult, BatchStatus, BulkInputError, states

from . import dm_email
from .models import User, db

logger = logging.getLogger("example_app")

#: The template's name in ``DM_NOTIFY_TEMPLATES``; it has ``((name))`` and ``((notice))``.
NOTICE_TEMPLATE = "notice"
#: Users read per query while streaming.
PAGE_SIZE = 500
#: A batch younger than this keeps its page refreshing while Notify's receipts come in.
REFRESH_WHILE_YOUNGER_THAN = 300

QUEUED = frozenset(states.WAITING)
SENDING = frozenset({states.SENDING, states.SENT, states.NOTIFY_CREATED, states.NOTIFY_SENDING})
FAILED = frozenset({states.PERMANENT_FAILURE, states.TEMPORARY_FAILURE, states.TECHNICAL_FAILURE, states.FAILED})


def active_recipients(notice: str, page_size: int = PAGE_SIZE) -> Iterator[dict[str, str]]:
    """Each active user as a row for ``enqueue_many``, oldest account first.

    Read ``page_size`` users at a time, by id (keyset pagination), so a million users are
    never in memory at once. Not one long ``yield_per`` cursor: ``enqueue_many`` commits
    between pages, and on SQLite an open read cursor would keep those commits waiting.
    """
    last_id = 0
    while True:
        page = db.session.execute(
            select(User.id, User.email_address, User.name)
            .where(User.active.is_(True), User.id > last_id)
            .order_by(User.id)
            .limit(page_size)
        ).all()
        for _user_id, address, name in page:
            yield {"email_address": address, "name": name, "notice": notice}
        if len(page) < page_size:
            return
        last_id = page[-1].id


def new_batch_name() -> str:
    """A batch name for when the admin gives none: ``notice-``, the time in UTC, and a
    random part, so two notices started in the same second are two batches (the same
    name would make the second a re-run of the first, sent to nobody)."""
    return datetime.now(UTC).strftime("notice-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def batch_name_for(notice: str) -> str:
    """The batch name of a notice sent with the name field left blank: ``notice-``, the
    UTC date and a digest of the text. A form sent twice (a double click, a retry after a
    timeout) is one batch, so nobody gets that notice twice; to send the same text again
    the same day, give the batch a name."""
    digest = hashlib.sha256(notice.strip().encode()).hexdigest()[:8]
    return datetime.now(UTC).strftime("notice-%Y%m%d-") + digest


def send_notice(batch: str, notice: str) -> BatchResult:
    """Queue ``notice`` for every active user as the batch ``batch``.

    Safe to repeat: a user the batch already has is counted in ``already_queued`` and not
    sent the notice again.

    :raises BulkInputError: the batch name is not valid, or the batch was cancelled or
        started with another template.
    :raises EmailError: ``DM_NOTIFY_TEMPLATES`` has no ``notice`` template.
    """
    result = dm_email.outbox.enqueue_many(active_recipients(notice), template=NOTICE_TEMPLATE, batch=batch)
    # Counts only: never an address.
    logger.info(
        "Notice batch %s: %d queued, %d already queued, %d invalid",
        batch,
        result.queued,
        result.already_queued,
        result.invalid,
    )
    return result


@dataclass(frozen=True)
class Progress:
    """A notice batch as the pages show it."""

    status: BatchStatus
    queued: int
    sending: int
    delivered: int
    failed: int
    cancelled: int
    #: Whether its page should refresh itself: emails still to hand to Notify, or a
    #: recent batch with receipts still to come.
    in_flight: bool

    @property
    def name(self) -> str:
        return self.status.name

    @property
    def eta(self) -> str:
        """How long until every email is with Notify, in words."""
        status = self.status
        if not status.waiting:
            return "none left to send"
        if status.eta_seconds is None:
            return "not sending yet"
        if status.eta_seconds < 60:
            return "less than a minute"
        minutes = round(status.eta_seconds / 60)
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"


def progress(batch: str) -> Progress | None:
    """Where the batch is; None when there is no such batch."""
    status = dm_email.outbox.batch(batch)
    return None if status is None else _progress(status)


def _progress(status: BatchStatus) -> Progress:
    counts = status.counts

    def total(group: frozenset[str]) -> int:
        return sum(counts.get(name, 0) for name in group)

    unfinished = sum(n for name, n in counts.items() if not states.is_final(name))
    recent = time.time() - status.created_at < REFRESH_WHILE_YOUNGER_THAN
    return Progress(
        status=status,
        queued=total(QUEUED),
        sending=total(SENDING),
        delivered=counts.get(states.DELIVERED, 0),
        failed=total(FAILED),
        cancelled=counts.get(states.CANCELLED, 0),
        in_flight=status.waiting > 0 or (unfinished > 0 and recent),
    )


def recent_notices(limit: int = 5, among: int = 50) -> list[Progress]:
    """The newest notice batches, newest first (among the outbox's newest ``among``)."""
    notices = [batch for batch in dm_email.outbox.batches(among) if batch.template_name == NOTICE_TEMPLATE]
    return [_progress(batch) for batch in notices[:limit]]


@click.command("send-notice")
@click.option("--batch", "batch", required=True,
              help="The batch's name, e.g. spring-closure: run the command again with the same name "
                   "(after a crash, say) and nobody gets the notice twice.")
@click.option("--text", "text", required=True, help="The notice, as the email's ((notice)).")
@with_appcontext
def send_notice_command(batch: str, text: str) -> None:
    """Queue a notice to every active user, as one batch (run it again with the same
    --batch: nothing is sent twice)."""
    name = batch
    text = text.strip()
    if not text:
        raise click.BadParameter("enter the notice's text", param_hint="--text")
    try:
        result = send_notice(name, text)
    except (BulkInputError, EmailError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Batch {name}: {result.queued} queued, {result.already_queued} already queued, {result.invalid} invalid."
    )
    for problem in result.errors:
        click.echo(f"  active user {problem.line - 1} (oldest account first) not sent it: {problem.reason}")
    click.echo("The outbox worker sends them: flask run's, or flask --app example_app dm-email worker.")
    click.echo(f"Progress: {current_app.config['EXAMPLE_APP_URL'].rstrip('/')}/notices/{name}")
    click.echo(f"      or: flask --app example_app dm-email bulk status {name}")
