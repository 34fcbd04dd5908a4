"""The durable outbox: every accepted email is a row in the app's own database before
anything is sent, and a worker delivers it exactly once.

``queue_email`` writes a row; :class:`Outbox` (``dm_email.outbox``) reads and steers
them; :class:`~flask_dm_email.outbox.worker.Worker` delivers them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import MetaData

from ..errors import EmailConfigError, OutboxStateError
from ..state import get_state
from . import bulk, retention, states
from .bulk import BatchResult, BatchStatus
from .bulk_csv import DEFAULT_EMAIL_COLUMN, BulkInputError, BulkRow, read_csv
from .enqueue import link_key, notify_reference, queue_email
from .erase import ErasureResult
from .erase import erase as erase_address
from .holds import release_held
from .records import QueuedEmail, status_changed
from .retention import PurgeResult
from .runtime import OutboxRuntime
from .tables import metadata

__all__ = [
    "BatchResult", "BatchStatus", "BulkInputError", "CancelledEmail", "ErasureResult", "Outbox", "PurgeResult",
    "QueuedEmail", "queue_email", "read_csv", "states",
]

logger = logging.getLogger("flask_dm_email.outbox")

#: What the CLI and the status page say after cancelling an email that may be with Notify.
MAY_HAVE_REACHED_NOTIFY = (
    "Its last attempt was unclear, so it may already have reached Notify. It will not be sent again; if Notify "
    "has it, its receipt (or 'flask dm-email outbox sync-statuses') moves it to Notify's status. Do not queue it "
    "again until then."
)


@dataclasses.dataclass(frozen=True)
class CancelledEmail(QueuedEmail):
    """What :meth:`Outbox.cancel` returns: the cancelled email, and whether its last
    attempt was unclear, so that Notify may have it after all (then its receipt moves the
    row on to Notify's status)."""

    may_have_reached_notify: bool = False


def _runtime() -> OutboxRuntime:
    state = get_state()
    if state.outbox is None:
        raise EmailConfigError(
            [
                (
                    "DM_EMAIL_OUTBOX_URL",
                    f"is not set on {state.settings.stage.value}: this app has no outbox. Set it to "
                    "'sqlalchemy' or a database URL.",
                )
            ]
        )
    return state.outbox


class Outbox:
    """``dm_email.outbox``: the current app's outbox."""

    #: The tables, for Flask-Migrate/Alembic (``target_metadata``).
    metadata: MetaData = metadata

    def create_tables(self) -> None:
        """Create the outbox tables in the outbox database if they do not exist."""
        _runtime().store.create_tables()

    def get(self, email_id: str) -> QueuedEmail | None:
        """One row by id."""
        row = _runtime().store.get(email_id)
        return None if row is None else QueuedEmail.from_row(row)

    def find(
        self, *, link: object = None, reference: str | None = None, status: str | None = None,
        batch: str | None = None, limit: int = 100,
    ) -> list[QueuedEmail]:
        """Rows matching every criterion given, newest first."""
        criteria: dict[str, Any] = {}
        if link is not None:
            criteria["link_type"], criteria["link_id"] = link_key(link)
        if reference is not None:
            criteria["reference"] = reference
        if status is not None:
            criteria["status"] = status
        if batch is not None:
            criteria["batch_id"] = batch
        return [QueuedEmail.from_row(row) for row in _runtime().store.find(limit=limit, **criteria)]

    def enqueue_many(
        self, rows: Iterable[Mapping[str, Any] | BulkRow], *, template: str, batch: str,
        email_column: str = DEFAULT_EMAIL_COLUMN, dry_run: bool = False,
        progress: Callable[[BatchResult], None] | None = None,
    ) -> BatchResult:
        """Queue one email per row, as the named batch, at priority ``bulk``.

        ``rows`` is any iterable, read once and never held whole: mappings shaped like a
        CSV line (``{"email_address": ..., <placeholder>: ...}``, the other columns being
        the personalisation), or :func:`~flask_dm_email.outbox.bulk_csv.read_csv`. Every
        row gets :func:`queue_email`'s checks (and, when Notify can be asked, the template's
        placeholders are matched with the columns); an invalid row is skipped and
        reported by its line (a CSV header is line 1, so the first mapping is line 2).
        Rows are written a thousand to a transaction, and a recipient the batch already
        has is left alone: run a batch again after a crash and nothing is added twice.

        :param batch: the batch's name (``flask dm-email bulk status NAME``).
        :param email_column: the column that holds the addresses.
        :param dry_run: check every row and count, queue nothing.
        :param progress: called with the counts so far after every thousand rows.
        :raises ~flask_dm_email.outbox.bulk_csv.BulkInputError: the input as a whole
            cannot be used (columns, template, batch name, a cancelled batch, an unreadable
            file); rows already committed by then stay queued.
        """
        from flask import current_app

        runtime = _runtime()
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        return bulk.enqueue_many(app, get_state(app), runtime, rows, template=template, batch=batch,
                                 email_column=email_column, dry_run=dry_run, progress=progress)

    def batch(self, name: str) -> BatchStatus | None:
        """A batch's counts by status, its sending rate and ETA; None for no such batch."""
        return bulk.batch_status(_runtime(), name)

    def batches(self, limit: int = 10) -> list[BatchStatus]:
        """The newest batches first, each as :meth:`batch` gives it."""
        return bulk.recent_batches(_runtime(), limit)

    def cancel_batch(self, name: str) -> bulk.CancelledBatch:
        """Cancel a batch: its emails not yet with Notify, and any a send still running
        would add (emails in flight finish); how many were cancelled (an ``int``, whose
        ``may_have_reached_notify`` counts those Notify may have after all)."""
        from flask import current_app

        return bulk.cancel_batch(current_app._get_current_object(), _runtime(), name)  # type: ignore[attr-defined]

    def retry_batch(self, name: str, rows: Iterable[Mapping[str, Any] | BulkRow] | None = None, *,
                    email_column: str = DEFAULT_EMAIL_COLUMN) -> int:
        """Queue a batch's ``failed-send-to-notify`` emails again, each as a new
        generation (as :meth:`retry` does for one); how many.

        Each is sent as it was queued: a failed email keeps its address and
        personalisation until the retention purge. Given ``rows`` (e.g. the batch's CSV
        file, corrected), only those recipients' failed emails are queued, each with its
        row's values.
        """
        from flask import current_app

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        return bulk.retry_failed(app, get_state(app), _runtime(), name, rows, email_column=email_column)

    def counts(self) -> dict[str, int]:
        """``{status: number of rows}`` for every status that has rows."""
        return _runtime().store.counts()

    def events(self, email_id: str) -> list[dict[str, Any]]:
        """A row's timeline: its events, oldest first (no address in any)."""
        return [dict(e) for e in _runtime().store.events_of(email_id)]

    def cancel(self, email_id: str) -> CancelledEmail:
        """Cancel an email not yet known to be with Notify: no worker sends it again.

        When its last attempt was unclear (a timeout, a lost answer: Notify may have it),
        the result's ``may_have_reached_notify`` is True. Such an email is not sent again,
        but if Notify did get it, its receipt (or ``outbox sync-statuses``, which looks it
        up) moves the row on to Notify's status, with a ``reached-notify-after-cancel``
        event: the row never says cancelled for an email that was delivered.

        :raises ~flask_dm_email.errors.OutboxStateError: when it is being sent (try again
            in a moment) or already final.
        """
        email, row = self._move_row(email_id, states.CANCELLED, "cancelled", only_from=states.CANCELLABLE)
        maybe = bool(row["maybe_sent"])
        if maybe:
            logger.warning("Outbox row %s cancelled, but its last attempt was unclear: it may already be with "
                           "Notify (its receipt or a status sync will show it)", email_id)
        fields = {f.name: getattr(email, f.name) for f in dataclasses.fields(QueuedEmail)}
        return CancelledEmail(**fields, may_have_reached_notify=maybe)

    def retry(self, email_id: str) -> QueuedEmail:
        """Queue a failed email again, as a new generation with its own notify reference
        (so the lookup never mistakes it for the first send), with the address and
        personalisation it was queued with.

        :raises ~flask_dm_email.errors.OutboxStateError: when it has not failed, or when
            its address was purged (``DM_EMAIL_RETENTION_DAYS`` after it failed): queue a
            new email instead.
        """
        runtime = _runtime()
        row = runtime.store.get(email_id)
        if row is None:
            raise OutboxStateError(f"No email {email_id} in the outbox.")
        if row["status"] == states.FAILED and row["to_address"] is None:
            raise OutboxStateError(
                f"Email {email_id} failed more than DM_EMAIL_RETENTION_DAYS ago, so its address and "
                "personalisation were purged and it cannot be sent again: queue a new email instead."
            )
        generation = row["generation"] + 1
        values = {
            "generation": generation, "attempts": 0, "maybe_sent": False, "settles_at": None, "final_at": None,
            "notify_reference": notify_reference(row["reference"], row["id"], generation),
            "last_error_class": None, "last_status_code": None,
        }
        return self._move(email_id, states.QUEUED, "operator-retry", only_from={states.FAILED}, values=values)

    def _move(self, email_id: str, new: str, kind: str, *, only_from: Any, values: Any = None) -> QueuedEmail:
        return self._move_row(email_id, new, kind, only_from=only_from, values=values)[0]

    def _move_row(self, email_id: str, new: str, kind: str, *, only_from: Any,
                  values: Any = None) -> tuple[QueuedEmail, Mapping[Any, Any]]:
        from flask import current_app

        store = _runtime().store
        old, moved = store.move(email_id, new, kind=kind, only_from=only_from, values=values, delay=0.0)
        if old is None:
            raise OutboxStateError(f"No email {email_id} in the outbox.")
        if moved is None:
            hint = " It is being sent now: try again in a moment." if old == states.SENDING else ""
            raise OutboxStateError(f"Email {email_id} is {old}, so it cannot be {kind.replace('-', ' ')}.{hint}")
        row = store.get(email_id)
        assert row is not None
        email = QueuedEmail.from_row(row)
        status_changed(current_app._get_current_object(), email, old, moved)  # type: ignore[attr-defined]
        _runtime().wake(email_id if moved in states.CLAIMABLE else None)
        return email, row

    def pause(self, reason: str = "paused by an operator") -> None:
        """Stop every worker (in every process) claiming; queueing goes on."""
        _runtime().store.set_paused(True, reason)

    def resume(self) -> int:
        """Let workers claim again, and release the emails held over the daily limit
        (they are due at once; see :meth:`release_held`). How many were released."""
        runtime = _runtime()
        runtime.store.set_paused(False, "")
        released = release_held(runtime.store)
        runtime.wake()
        return released

    def release_held(self) -> int:
        """Queue every email held over the daily limit now instead of at 00:00 UTC (e.g.
        once Notify has raised the service's limit); how many. Each gets a ``released``
        event. A worker process that had Notify's own daily-limit refusal (429
        ``TooManyRequestsError``) today sends again (the release is recorded); our own
        ``DM_NOTIFY_DAILY_LIMIT``, used up, holds them again (:doc:`outbox`, "Held emails")."""
        runtime = _runtime()
        released = release_held(runtime.store)
        runtime.wake()
        return released

    @property
    def paused(self) -> bool:
        return _runtime().store.paused()

    def purge(self) -> PurgeResult:
        """Clear the personal data of rows final for longer than
        ``DM_EMAIL_RETENTION_DAYS`` and delete the events of final rows older than
        ``DM_EMAIL_EVENT_RETENTION_DAYS``. Returns how many rows were cleared (an int, as
        before), with ``.events``, how many events were deleted."""
        return retention.purge(_runtime())

    def erase(self, address: str) -> ErasureResult:
        """Remove every email to ``address`` (as given, lowercased, or as Notify reads
        it), of every Notify service in the outbox database, and their events: a
        data-subject erasure request. Emails still waiting are removed too, so they are
        never sent; emails a worker is sending now are kept and counted in
        ``still_sending`` (erase again in a minute). See :doc:`outbox` ("Personal data").

        :raises ~flask_dm_email.errors.EmailInvalidError: ``address`` is not an email
            address.
        """
        return erase_address(_runtime().store, address)

    def deliver(self, email_id: str) -> str | None:
        """Deliver one email now, in this process, exactly as a worker would: claim it
        (only if it is waiting and due, of this app's Notify service, and the outbox is
        not paused), then send it through the same path, rate limiter included.

        For task queues (:doc:`celery`): a task that carries the id and is delivered
        twice, or late, sends nothing twice.

        :returns: the status the email ended in, or None when it was not claimable
            (another worker has it, it is not due yet, it is held or final, or the
            outbox is paused) or another worker took it over meanwhile.
        """
        from flask import current_app

        from .claim_one import claim_one
        from .delivery import Delivery

        runtime = _runtime()
        store = runtime.store
        if store.paused():
            return None
        row = claim_one(store, email_id, runtime.settings.lease_seconds)
        if row is None:
            return None
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        return Delivery(app, get_state(app), store).deliver(row)

    def drain(self, timeout: float = 30.0, *, threads: int = 4) -> int:
        """Deliver everything due now in this process (tests, scripts); how many rows
        were handled. Rows scheduled for later stay queued."""
        from flask import current_app

        from .worker import Worker

        worker = Worker(current_app._get_current_object(), threads=threads)  # type: ignore[attr-defined]
        try:
            return worker.drain(timeout)
        finally:
            worker.close()
