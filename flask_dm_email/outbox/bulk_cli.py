"""``flask dm-email bulk send|status|cancel|retry-failed``: bulk sends from a CSV file.

Output holds counts, line numbers and hashed addresses only, never an address or a
personalisation value; the progress bar shows only on a terminal.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click
from flask.cli import AppGroup

from . import Outbox, states
from .bulk import BatchResult, BatchStatus
from .bulk_csv import DEFAULT_EMAIL_COLUMN, read_csv
from .cli import _app_context, _table

bulk_cli = AppGroup("bulk", help="Bulk sends from a CSV file: send, status, cancel, retry-failed.")
_outbox = Outbox()


class _Progress:
    """A progress bar with rows/s and ETA, on a terminal only."""

    def __init__(self, total: int, label: str) -> None:
        self.bar: Any = None
        self.done = 0
        self.started = time.monotonic()
        if sys.stdout.isatty():
            self.bar = click.progressbar(length=max(total, 1), label=label, show_eta=True, show_pos=True,
                                         item_show_func=self._rate)
            self.bar.__enter__()

    def _rate(self, _item: Any) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.done / elapsed:,.0f} rows/s" if elapsed > 0 and self.done else ""

    def update(self, result: BatchResult) -> None:
        if self.bar is not None:
            self.bar.update(result.rows - self.done, result.rows)
            self.done = result.rows

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _print_result(result: BatchResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    would = "would be " if result.dry_run else ""
    click.echo(f"Batch {result.batch} (template {result.template_name or result.template_id})"
               + (": dry run, nothing queued" if result.dry_run else ""))
    if result.placeholders is None:
        click.echo("placeholders: not checked (no GOV.UK Notify to ask on this backend)")
    else:
        click.echo(f"placeholders: {', '.join(f'(({p}))' for p in result.placeholders) or 'none'}")
    _table(
        [
            ["rows read", str(result.rows)],
            [f"{would}queued", str(result.queued)],
            ["already queued (earlier runs)", str(result.already_queued)],
            ["duplicate recipients, skipped", str(result.duplicates)],
            ["invalid rows, skipped", str(result.invalid)],
            [f"{would}redirected on this stage", str(result.redirected)],
        ],
        ["", "rows"],
    )
    if result.errors:
        more = result.invalid - len(result.errors)
        click.echo(f"first {len(result.errors)} invalid row(s)" + (f" ({more} more not shown)" if more else "") + ":")
        for error in result.errors:
            click.echo(f"  line {error.line}: {error.reason}")
    if not result.dry_run:
        click.echo(f"Progress: flask dm-email bulk status {result.batch}")


@bulk_cli.command("send", with_appcontext=False)
@click.option("--template", required=True, help="A name from DM_NOTIFY_TEMPLATES or a template id.")
@click.option("--csv", "csv_path", required=True, metavar="FILE", help="UTF-8 CSV with a header line.")
@click.option("--batch", "name", required=True, help="The batch's name: run again with it to resume.")
@click.option("--email-column", default=DEFAULT_EMAIL_COLUMN, show_default=True,
              help="The column of addresses; the others are personalisation.")
@click.option("--dry-run", is_flag=True, help="Check every row and count; queue nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def send_command(template: str, csv_path: str, name: str, email_column: str, dry_run: bool, as_json: bool) -> None:
    """Queue one email per row of a CSV file, as a named batch (resumable: rows already
    queued in the batch are left alone)."""
    with _app_context():
        rows = read_csv(csv_path)
        total = rows.scan()  # a line that is not UTF-8 or CSV stops everything before a row is queued
        progress = _Progress(total, "Checking" if dry_run else "Queueing")
        try:
            result = _outbox.enqueue_many(rows, template=template, batch=name, email_column=email_column,
                                          dry_run=dry_run, progress=progress.update)
        finally:
            progress.close()
    _print_result(result, as_json)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _status_or_exit(name: str) -> BatchStatus:
    status = _outbox.batch(name)
    if status is None:
        click.echo(f"No batch {name!r} in the outbox. 'flask dm-email bulk send --batch {name} ...' starts it.",
                   err=True)
        sys.exit(1)
    return status


@bulk_cli.command("status", with_appcontext=False)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status_command(name: str, as_json: bool) -> None:
    """A batch's emails by status, the rate Notify is accepting them and the ETA."""
    with _app_context():
        status = _status_or_exit(name)
        paused = _outbox.paused
    if as_json:
        click.echo(json.dumps({**status.as_dict(), "paused": paused}, indent=2))
        return
    created = datetime.fromtimestamp(status.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"Batch {status.name} (template {status.template_name or status.template_id}), started {created}"
               + (", cancelled" if status.cancelled else ""))
    _table([[s, str(status.counts[s])] for s in states.STATUSES if s in status.counts], ["status", "emails"])
    click.echo(f"total: {status.total}; not yet with Notify: {status.waiting}")
    click.echo(f"rate: {status.rate:.1f} emails/s (last minute)")
    if status.eta_seconds is not None:
        click.echo(f"ETA: {_duration(status.eta_seconds)}")
    elif paused:
        click.echo("ETA: none, the outbox is paused ('flask dm-email outbox resume')")
    else:
        click.echo("ETA: none, nothing was sent in the last minute (is 'flask dm-email worker' running?)")
    if status.invalid_last_run:
        click.echo(f"invalid rows skipped by the last 'bulk send': {status.invalid_last_run}")


@bulk_cli.command("cancel", with_appcontext=False)
@click.argument("name")
def cancel_command(name: str) -> None:
    """Cancel a batch's emails not yet with Notify (those in flight finish)."""
    with _app_context():
        count = _outbox.cancel_batch(name)
    click.echo(f"Cancelled {count} email(s) of batch {name}; nothing more is queued in it.")
    if count.may_have_reached_notify:
        click.echo(f"{count.may_have_reached_notify} of them had an unclear last attempt and may already have "
                   "reached Notify: their receipts (or the status sync) will say.")


@bulk_cli.command("retry-failed", with_appcontext=False)
@click.argument("name")
@click.option("--csv", "csv_path", default=None, metavar="FILE",
              help="The batch's CSV again (corrected): retry only its recipients, with its values.")
@click.option("--email-column", default=DEFAULT_EMAIL_COLUMN, show_default=True)
def retry_failed_command(name: str, csv_path: str | None, email_column: str) -> None:
    """Queue a batch's failed-send-to-notify emails again, as they were queued (with --csv
    FILE: only that file's recipients, with its values)."""
    with _app_context():
        rows = None
        if csv_path is not None:
            rows = read_csv(csv_path)
            rows.scan()
        count = _outbox.retry_batch(name, rows, email_column=email_column)
    click.echo(f"Queued {count} failed email(s) of batch {name} again.")
