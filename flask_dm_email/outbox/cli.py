"""``flask dm-email worker`` and ``flask dm-email outbox ...``.

Tables on a terminal, ``--json`` for scripts; hashed addresses only, never an address or
a personalisation value.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from ..cli_loading import fail_config, load_app
from ..errors import EmailConfigError, EmailError
from ..pacer import budget_lines
from ..state import get_state
from . import MAY_HAVE_REACHED_NOTIFY, Outbox, QueuedEmail, states

outbox_cli = AppGroup("outbox", help="The durable outbox: status, rows, retries, housekeeping.")
_outbox = Outbox()


@contextmanager
def _app_context() -> Iterator[Flask]:
    """The app, in a context, with an outbox; config problems and refused actions end in
    a clear message and exit 1, never a traceback."""
    app = load_app()
    with app.app_context():
        try:
            if get_state(app).outbox is None:
                settings = get_state(app).settings
                raise EmailConfigError(
                    [("DM_EMAIL_OUTBOX_URL", f"is not set on {settings.stage.value}: this app has no outbox.")]
                )
            yield app
        except EmailConfigError as error:
            fail_config(error)
        except EmailError as error:
            click.echo(f"{type(error).__name__}: {error}", err=True)
            sys.exit(1)
        except SQLAlchemyError as error:
            # Only the class: the message may quote the statement's parameters (an address).
            runtime = get_state(app).outbox
            where = runtime.database.description if runtime is not None else "the outbox database"
            cause = getattr(error, "orig", None)
            raised = type(error).__name__ + (
                f" from {type(cause).__module__}.{type(cause).__name__}" if cause is not None else "")
            click.echo(f"The outbox database ({where}) could not do this: {raised}. "
                       "Nothing half-done is kept: run the command again once the database is reachable; if "
                       "its tables are missing or from an older version, run flask dm-email outbox upgrade first.",
                       err=True)
            sys.exit(1)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _email_dict(email: QueuedEmail) -> dict[str, Any]:
    return {k: _plain(v) for k, v in asdict(email).items()}


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    for line in [headers, *rows]:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip())


@outbox_cli.command("status", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status_command(as_json: bool) -> None:
    """Counts by status, whether workers may claim, and where the outbox is."""
    with _app_context() as app:
        runtime = get_state(app).outbox
        assert runtime is not None
        counts = _outbox.counts()
        report: dict[str, Any] = {
            "where": runtime.database.description,
            "paused": _outbox.paused,
            "due_now": runtime.store.due_count(),
            "counts": {status: counts.get(status, 0) for status in states.STATUSES},
        }
        pacer = get_state(app).pacer
        report["budget"] = pacer.report() if pacer is not None else None
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"outbox: {report['where']}")
    click.echo(f"paused: {'yes (flask dm-email outbox resume)' if report['paused'] else 'no'}")
    click.echo(f"due now: {report['due_now']}")
    _table([[status, str(n)] for status, n in report["counts"].items()], ["status", "emails"])
    if report["budget"] is not None:
        for line in budget_lines(report["budget"]):
            click.echo(line)


@outbox_cli.command("list", with_appcontext=False)
@click.option("--status", type=click.Choice(states.STATUSES), default=None)
@click.option("--batch", default=None, help="Only this bulk batch.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines for scripts.")
def list_command(status: str | None, batch: str | None, limit: int, as_json: bool) -> None:
    """The newest emails (hashed addresses only)."""
    with _app_context():
        emails = _outbox.find(status=status, batch=batch, limit=limit)
    if as_json:
        for email in emails:
            click.echo(json.dumps(_email_dict(email)))
        return
    rows = [
        [e.id, e.status, e.template_name or e.template_id, e.to_hash[:12] + "…", str(e.attempts),
         e.created_at.strftime("%Y-%m-%d %H:%M:%S") if e.created_at else ""]
        for e in emails
    ]
    _table(rows, ["id", "status", "template", "address hash", "attempts", "queued (UTC)"])


@outbox_cli.command("show", with_appcontext=False)
@click.argument("email_id")
@click.option("--json", "as_json", is_flag=True)
def show_command(email_id: str, as_json: bool) -> None:
    """One email and its timeline of events."""
    with _app_context():
        email = _outbox.get(email_id)
        if email is None:
            click.echo(f"No email {email_id} in the outbox.", err=True)
            sys.exit(1)
        events = _outbox.events(email_id)
    if as_json:
        click.echo(json.dumps({"email": _email_dict(email), "events": events}, indent=2, default=str))
        return
    for key, value in _email_dict(email).items():
        click.echo(f"{key}: {value}")
    click.echo("timeline:")
    for e in events:
        at = datetime.fromtimestamp(e["at"]).strftime("%Y-%m-%d %H:%M:%S")
        extra = " ".join(str(x) for x in (e["http_status"], e["error_class"]) if x)
        click.echo(f"  {at}  {e['type']:<18} {e['status'] or '':<26} {extra}".rstrip())


def _action(name: str, do: Callable[[str], QueuedEmail]) -> Callable[[str], None]:
    def command(email_id: str) -> None:
        with _app_context():
            email = do(email_id)
        click.echo(f"{email.id}: {email.status}")
        if getattr(email, "may_have_reached_notify", False):
            click.echo(MAY_HAVE_REACHED_NOTIFY)

    command.__doc__ = f"{name.capitalize()} one email."
    return command


outbox_cli.command("retry", with_appcontext=False, help="Queue a failed email again (a new generation).")(
    click.argument("email_id")(_action("retry", _outbox.retry))
)
outbox_cli.command("cancel", with_appcontext=False, help="Cancel an email not yet with Notify.")(
    click.argument("email_id")(_action("cancel", _outbox.cancel))
)


@outbox_cli.command("pause", with_appcontext=False)
def pause_command() -> None:
    """Stop every worker claiming (queueing goes on)."""
    with _app_context():
        _outbox.pause()
    click.echo("Paused: no worker claims until 'flask dm-email outbox resume'.")


@outbox_cli.command("resume", with_appcontext=False)
def resume_command() -> None:
    """Let workers claim again (emails held over the daily limit are released too)."""
    with _app_context():
        released = _outbox.resume()
    click.echo("Resumed." + (f" {_released_text(released)}" if released else ""))


@outbox_cli.command("release-held", with_appcontext=False)
def release_held_command() -> None:
    """Queue the emails held over the daily limit now, not at 00:00 UTC."""
    with _app_context():
        released = _outbox.release_held()
    click.echo(_released_text(released) if released else "No email is held.")


def _released_text(count: int) -> str:
    return (f"Released {count} held email(s): they are due now, and workers that had Notify's daily-limit "
            "refusal today send again. If the limit was DM_NOTIFY_DAILY_LIMIT's, they are held again until "
            "00:00 UTC: raise it first.")


@outbox_cli.command("sync-statuses", with_appcontext=False)
@click.option("--older-than", default=0.0, show_default=True, type=float, help="Seconds since the last change.")
def sync_command(older_than: float) -> None:
    """Ask Notify about emails it has not called back about."""
    from .sync import sync_statuses

    with _app_context() as app:
        moved = sync_statuses(app, older_than=older_than)
    click.echo(f"Moved: {moved or 'nothing'}")


@outbox_cli.command("purge", with_appcontext=False)
def purge_command() -> None:
    """Clear personal data from rows final for longer than DM_EMAIL_RETENTION_DAYS, and
    delete final rows' events older than DM_EMAIL_EVENT_RETENTION_DAYS."""
    with _app_context():
        result = _outbox.purge()
    click.echo(f"Personal data cleared from {result.rows} email(s); {result.events} old event(s) deleted.")


def _interactive() -> bool:
    """Whether there is a person at a terminal to confirm an erasure."""
    return sys.stdin.isatty()


@outbox_cli.command("erase", with_appcontext=False)
@click.option("--address", required=True,
              help="The person's email address; '-' reads it from standard input (keeps it out of shell history).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def erase_command(address: str, yes: bool, as_json: bool) -> None:
    """Remove every email to one address, and their events (a data-subject erasure request).

    Emails still waiting to be sent are removed too: they will never be sent. Prints the
    address's hash and counts, never the address.
    """
    from ..addresses import validate_email_address
    from ..errors import EmailInvalidError
    from .erase import address_hashes

    from_stdin = address == "-"
    if from_stdin:
        address = sys.stdin.readline()
    try:
        address = validate_email_address(address, field_name="address")
    except EmailInvalidError as error:
        click.echo(f"EmailInvalidError: {error}", err=True)
        sys.exit(1)
    shown, _ = address_hashes(address)
    if not yes:
        if from_stdin or not _interactive():
            click.echo("Refusing to erase without confirmation: there is no terminal to ask on. Run again with "
                       "--yes.", err=True)
            sys.exit(1)
        if not click.confirm(f"Erase every email to the address with hash {shown}, and its events, from the outbox "
                             "(emails not yet sent will never be sent)?"):
            click.echo("Nothing erased.", err=True)
            sys.exit(1)
    with _app_context():
        result = _outbox.erase(address)
    if as_json:
        click.echo(json.dumps({**asdict(result), "complete": result.complete}, indent=2))
    else:
        unclear = (f"; {result.unclear} will not be sent again but had an unclear attempt that may have reached "
                   "Notify (if it did, Notify keeps its own copy)") if result.unclear else ""
        click.echo(f"Address hash {result.address_hash}: {result.rows} email(s) and {result.events} event(s) "
                   f"erased; {result.waiting} of the emails had not been sent yet and never will be{unclear}.")
    if not result.complete:
        click.echo(f"{result.still_sending} email(s) to this address are being sent right now and were kept: run "
                   "this command again in a minute (once sent, or once the worker's lease ends, they are "
                   "erased).", err=True)
        sys.exit(1)


@outbox_cli.command("create-tables", with_appcontext=False)
def create_tables_command() -> None:
    """Create the outbox tables (for teams that do not use migrations)."""
    _upgrade()


@outbox_cli.command("upgrade", with_appcontext=False)
def upgrade_command() -> None:
    """Bring the outbox tables up to this version's schema (run after upgrading
    flask-dm-email, and after your own migrations if they own the tables)."""
    _upgrade()


def _upgrade() -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from .schema import create_tables

    with _app_context() as app:
        runtime = get_state(app).outbox
        assert runtime is not None  # _app_context refuses an app without an outbox
        try:
            before, now = create_tables(runtime.store)
        except SQLAlchemyError as error:
            click.echo(f"Could not create or upgrade the outbox tables in {runtime.database.description} "
                       f"({type(error).__name__}); nothing was changed that a second run would not finish. "
                       "Check the database is reachable and this user may create tables, then run it again.",
                       err=True)
            sys.exit(1)
    if before is None:
        click.echo(f"Outbox tables ready in {runtime.database.description}, at schema version {now}.")
    elif before == now:
        click.echo(f"Outbox tables in {runtime.database.description} were already at schema version {now}.")
    else:
        click.echo(f"Outbox tables in {runtime.database.description} upgraded from schema version {before} to {now}.")


@click.command("worker", context_settings={"ignore_unknown_options": False})
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics on this port (needs the [metrics] extra).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for --metrics-port.")
def worker_command(threads: int, once: bool, metrics_port: int | None, metrics_host: str) -> None:
    """Deliver the outbox until stopped (SIGTERM or Ctrl-C stop it gracefully)."""
    from .worker import Worker

    with _app_context() as app:
        worker = Worker(app, threads=threads)
        if metrics_port is not None:
            from ..ops.metrics import serve_metrics

            try:
                serve_metrics(app, metrics_host, metrics_port)
            except (EmailConfigError, OSError) as error:
                click.echo(f"Cannot serve metrics on {metrics_host}:{metrics_port}: {error}", err=True)
                sys.exit(1)
            click.echo(f"Metrics: http://{metrics_host}:{metrics_port}/metrics", err=True)

    def stop(signum: int, _frame: Any) -> None:
        click.echo(f"Stopping (signal {signum}): finishing emails in flight, giving back the rest.", err=True)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Outbox worker: {threads} thread(s){', once' if once else ''}.", err=True)
    try:
        worker.run(once=once)
    except EmailConfigError as error:
        fail_config(error)
    finally:
        worker.close()
