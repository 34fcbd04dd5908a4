"""Bulk sends: ``dm_email.outbox.enqueue_many(rows, template=..., batch=...)`` and
``dm_email.outbox.batch(name)``.

Rows are read one at a time from any iterable and written a thousand to a transaction,
each chunk one insert that leaves alone a recipient the batch already has. So a batch
stopped by a crash, a SIGKILL or Ctrl-C is finished by running it again, and nothing is
added twice. Every row gets ``queue_email``'s checks; a row that fails them is skipped and
reported by its line, with the address hashed. Bulk rows have priority ``bulk``: workers
claim every transactional email first.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import OutboxStateError
from ..signals import email_queued, email_status_changed
from ..state import DMEmailState
from . import states
from .bulk_csv import DEFAULT_EMAIL_COLUMN, BulkInputError, BulkRow, CsvRows
from .bulk_rows import RowError, RowRules, ValidRow, template_placeholders
from .bulk_store import BatchStore
from .records import PRIORITIES, QueuedEmail
from .runtime import OutboxRuntime

#: Rows per transaction.
CHUNK_ROWS = 1000
#: Row errors kept in a :class:`BatchResult` (the counts cover them all).
MAX_ERRORS = 20
_BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


@dataclass(frozen=True)
class BatchResult:
    """What :meth:`~flask_dm_email.outbox.Outbox.enqueue_many` did (or, for a dry run,
    would do). No address anywhere in it.

    :param rows: rows read (blank lines not counted).
    :param queued: rows queued now.
    :param already_queued: rows whose recipient the batch already had (an earlier run).
    :param invalid: rows skipped as invalid; the first :data:`MAX_ERRORS` are in ``errors``.
    :param duplicates: rows whose recipient an earlier row of this input already has.
    :param redirected: rows (queued or valid, in a dry run) that the stage's
        ``DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS`` sends to a safe address instead.
    :param placeholders: the template's placeholders as Notify has them; None when they
        could not be checked (no Notify to ask).
    """

    batch: str
    template_id: str
    template_name: str | None
    dry_run: bool = False
    rows: int = 0
    queued: int = 0
    already_queued: int = 0
    invalid: int = 0
    duplicates: int = 0
    redirected: int = 0
    errors: tuple[RowError, ...] = ()
    placeholders: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """For JSON output."""
        return {**{k: v for k, v in self.__dict__.items() if k != "errors"},
                "errors": [{"line": e.line, "reason": e.reason} for e in self.errors]}


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch is: ``dm_email.outbox.batch(name)``.

    :param counts: ``{status: rows}`` for every status the batch has rows in.
    :param waiting: rows not yet with Notify (queued, retrying, held or being sent).
    :param rate: emails a second Notify accepted from the batch over the last minute (or
        since it started sending, if that is later).
    :param eta_seconds: ``waiting / rate``; None while nothing is being sent.
    """

    name: str
    template_id: str
    template_name: str | None
    total: int
    counts: Mapping[str, int]
    waiting: int
    rate: float
    eta_seconds: float | None
    invalid_last_run: int
    cancelled: bool
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        """For JSON output."""
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}


def check_batch_name(name: object) -> str:
    if not isinstance(name, str) or not _BATCH_NAME.fullmatch(name):
        raise BulkInputError(
            f"batch must be a name of 1 to 200 letters, digits, '.', '_', ':' or '-', starting with a letter "
            f"or digit, e.g. 'framework-g14-opens', not {name!r}."
        )
    return name


def _numbered(rows: Iterable[Any]) -> Iterable[BulkRow]:
    """Plain mappings are numbered as lines of a CSV file with a header: the first is 2."""
    for line, row in enumerate(rows, start=2):
        yield row if isinstance(row, BulkRow) else BulkRow(line, row)


class _SeenKeys:
    """The batch keys met so far in one input, in 2 MB however long it is: a Bloom filter
    whose seven bit positions come from the key itself (a SHA-256, so already uniform).

    Only the counts read it: whether a row is queued is the database's decision. A false
    "seen" (about one in 10^12 rows at 50,000) would count a row that an earlier run
    queued as a duplicate within the input instead.
    """

    _BYTES = 1 << 21

    def __init__(self) -> None:
        self._bits = bytearray(self._BYTES)

    @staticmethod
    def _positions(key: str) -> list[int]:
        bits = int.from_bytes(base64.urlsafe_b64decode(key)[:21], "big")
        return [bits >> shift & 0xFFFFFF for shift in range(0, 168, 24)]

    def add(self, key: str) -> None:
        for position in self._positions(key):
            self._bits[position >> 3] |= 1 << (position & 7)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and all(
            self._bits[position >> 3] & (1 << (position & 7)) for position in self._positions(key))


class _Run:
    """One run of enqueue_many: the counts so far and the chunk being filled."""

    def __init__(self, result: BatchResult, max_errors: int) -> None:
        self.start = result
        self.max_errors = max_errors
        self.counts = dict.fromkeys(("rows", "queued", "already_queued", "invalid", "duplicates", "redirected"), 0)
        self.errors: list[RowError] = []
        self.chunk: dict[str, ValidRow] = {}
        self.seen = _SeenKeys()  # a real run: earlier chunks' keys
        self.seen_exactly: set[str] = set()  # a dry run: every key (its counts are all it gives)

    def reject(self, error: RowError) -> None:
        self.counts["invalid"] += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(error)

    @property
    def result(self) -> BatchResult:
        counts: dict[str, Any] = dict(self.counts)
        return replace(self.start, **counts, errors=tuple(self.errors))


def enqueue_many(
    app: Any, state: DMEmailState, runtime: OutboxRuntime, rows: Iterable[Mapping[str, Any] | BulkRow], *,
    template: str, batch: str, email_column: str = DEFAULT_EMAIL_COLUMN, dry_run: bool = False,
    max_errors: int = MAX_ERRORS, progress: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """See :meth:`~flask_dm_email.outbox.Outbox.enqueue_many`."""
    name = check_batch_name(batch)
    rules = RowRules(state, template, email_column, None)
    rules.placeholders = template_placeholders(state, rules.template_id, template)
    if isinstance(rows, CsvRows):
        rules.check_columns(rows.columns)
    # Tables older than schema version 3 share batch names across Notify services: another
    # app's batch of this name would make this one's recipients look queued already.
    runtime.store.check_schema()
    store = BatchStore(runtime.store)
    run = _Run(BatchResult(name, rules.template_id, rules.template_name, dry_run=dry_run,
                           placeholders=rules.placeholders), max_errors)
    if dry_run:
        found = store.get(name)
        if found is not None and found["cancelled_at"] is not None:
            raise BulkInputError(f"Batch {name!r} was cancelled. Use a new batch name to send again.")
    else:
        store.start(name, rules.template_id, rules.template_name)

    def flush() -> None:
        if not run.chunk:
            return
        chunk = list(run.chunk.values())
        run.chunk.clear()
        if dry_run:
            existing = store.existing_keys(name, (row.key for row in chunk))
            new = [row for row in chunk if row.key not in existing]
            run.counts["already_queued"] += len(chunk) - len(new)
            run.counts["queued"] += len(new)
            run.counts["redirected"] += sum(row.redirected for row in new)
        else:
            inserted = store.insert_rows(
                name, [row.values for row in chunk], template_id=rules.template_id,
                template_name=rules.template_name, priority=PRIORITIES["bulk"],
                abandon_after=runtime.settings.abandon_after,
            )
            for row in chunk:
                if row.values["id"] in inserted:
                    run.counts["queued"] += 1
                    run.counts["redirected"] += row.redirected
                elif row.key in run.seen:  # an earlier chunk of this input has the recipient
                    run.counts["duplicates"] += 1
                else:
                    run.counts["already_queued"] += 1
            for row in chunk:
                run.seen.add(row.key)
            _announce(app, runtime, store, [row.values["id"] for row in chunk if row.values["id"] in inserted])
        if progress is not None:
            progress(run.result)

    for row in _numbered(rows):
        run.counts["rows"] += 1
        if row.problem:
            run.reject(RowError(row.line, row.problem))
            continue
        checked = rules.check(row.line, row.values)
        if isinstance(checked, RowError):
            run.reject(checked)
        elif checked.key in run.chunk or checked.key in run.seen_exactly:
            run.counts["duplicates"] += 1
        else:
            run.chunk[checked.key] = checked
            if dry_run:
                run.seen_exactly.add(checked.key)
            if len(run.chunk) >= CHUNK_ROWS:
                flush()
    flush()
    if not dry_run:
        store.finish(name, run.result.invalid)
    return run.result


def _announce(app: Any, runtime: OutboxRuntime, store: BatchStore, ids: list[str]) -> None:
    """Wake the workers, pass each new row to the listeners (Celery's task sender), and
    send ``email_queued`` when anybody listens."""
    _wake(runtime, ids)
    if ids and email_queued.receivers:
        for row in store.rows(ids):
            email_queued.send(app, email=QueuedEmail.from_row(row))


def _wake(runtime: OutboxRuntime, ids: list[str]) -> None:
    """Wake the workers; pass each row to the listeners (Celery's task sender) if any."""
    if runtime.listeners:
        for row_id in ids:
            runtime.wake(row_id)
    elif ids:
        runtime.wake()


def recent_batches(runtime: OutboxRuntime, limit: int = 10) -> list[BatchStatus]:
    """See :meth:`~flask_dm_email.outbox.Outbox.batches`."""
    found = (batch_status(runtime, name) for name in BatchStore(runtime.store).names(limit))
    return [status for status in found if status is not None]


def batch_status(runtime: OutboxRuntime, name: str) -> BatchStatus | None:
    """See :meth:`~flask_dm_email.outbox.Outbox.batch`."""
    store = BatchStore(runtime.store)
    found = store.get(name)
    if found is None:
        return None
    counts = store.counts(name)
    waiting = sum(counts.get(status, 0) for status in (*states.WAITING, states.SENDING))
    rate = store.recent_rate(name, 60.0)
    return BatchStatus(
        name=name, template_id=found["template_id"], template_name=found["template_name"],
        total=sum(counts.values()), counts=counts, waiting=waiting, rate=rate,
        eta_seconds=waiting / rate if rate > 0 and waiting else (0.0 if not waiting else None),
        invalid_last_run=int(found["invalid"]), cancelled=found["cancelled_at"] is not None,
        created_at=float(found["created_at"]),
    )


def _changed(app: Any, store: BatchStore, ids: list[str], old: str, new: str) -> None:
    if ids and email_status_changed.receivers:
        for row in store.rows(ids):
            email_status_changed.send(app, email=QueuedEmail.from_row(row), old=old, new=new)


class CancelledBatch(int):
    """What a batch's cancel did. It *is* the number of emails cancelled (what
    ``cancel_batch`` has always returned); :attr:`may_have_reached_notify` counts those
    whose last attempt was unclear: Notify may have them after all, and their receipts
    or the status sync move them to Notify's status."""

    may_have_reached_notify: int

    def __new__(cls, cancelled: int, may_have_reached_notify: int = 0) -> CancelledBatch:
        result = super().__new__(cls, cancelled)
        result.may_have_reached_notify = may_have_reached_notify
        return result

    def __getnewargs__(self) -> tuple[int, int]:  # type: ignore[override]
        return int(self), self.may_have_reached_notify


def cancel_batch(app: Any, runtime: OutboxRuntime, name: str) -> CancelledBatch:
    """Cancel every email of the batch not yet with Notify (and whatever a send still
    running would add); how many were cancelled.

    :raises ~flask_dm_email.errors.OutboxStateError: no such batch.
    """
    store = _existing(runtime, name)
    ids, unclear = store.cancel(name)
    _changed(app, store, ids, "waiting", states.CANCELLED)
    return CancelledBatch(len(ids), unclear)


def retry_failed(app: Any, state: DMEmailState, runtime: OutboxRuntime, name: str,
                 rows: Iterable[Mapping[str, Any] | BulkRow] | None = None, *,
                 email_column: str = DEFAULT_EMAIL_COLUMN) -> int:
    """Queue the batch's ``failed-send-to-notify`` emails again, as they were queued; how many.

    A failed email keeps its address and personalisation until the retention purge, so
    nothing need be given again. ``rows`` (e.g. the same CSV file, corrected) queue only
    the failed emails of those recipients, each with its row's values. Rows that did not
    fail are left alone, and so are failed emails whose address was purged.

    :raises ~flask_dm_email.errors.OutboxStateError: no such batch, it was cancelled, or
        the template needs personalisation that some failed emails no longer have (they
        failed under a version that cleared it) and no rows were given.
    """
    store = _existing(runtime, name)
    found = store.get(name)
    assert found is not None
    if found["cancelled_at"] is not None:
        raise OutboxStateError(f"Batch {name!r} was cancelled, so its failed emails are not sent again.")
    template = found["template_name"] if found["template_name"] in state.settings.templates else found["template_id"]
    placeholders = template_placeholders(state, found["template_id"], template)
    if rows is None:
        missing = store.failed_without_personalisation(name) if placeholders else 0
        if missing:
            raise OutboxStateError(
                f"{missing} of batch {name!r}'s failed emails have no personalisation (an earlier version "
                "cleared it when an email failed), and its template needs some. Give the batch's rows again: "
                "flask dm-email bulk retry-failed NAME --csv FILE (retry_batch(name, rows) in Python)."
            )
        ids = store.retry_failed(name, runtime.settings.abandon_after)
    else:
        rules = RowRules(state, template, email_column, placeholders)
        if isinstance(rows, CsvRows):
            rules.check_columns(rows.columns)
        ids, chunk = [], []
        for row in _numbered(rows):
            checked = None if row.problem else rules.check(row.line, row.values)
            if isinstance(checked, ValidRow):
                chunk.append({"batch_key": checked.key, "personalisation": checked.values["personalisation"]})
            if len(chunk) >= CHUNK_ROWS:
                ids += store.retry_failed(name, runtime.settings.abandon_after, chunk)
                chunk = []
        if chunk:
            ids += store.retry_failed(name, runtime.settings.abandon_after, chunk)
    _changed(app, store, ids, states.FAILED, states.QUEUED)
    _wake(runtime, ids)
    return len(ids)


def _existing(runtime: OutboxRuntime, name: str) -> BatchStore:
    store = BatchStore(runtime.store)
    if store.get(name) is None:
        known = ", ".join(store.names()) or "none yet"
        raise OutboxStateError(f"No batch {name!r} in the outbox (the newest: {known}).")
    return store
