"""``flask dm-email report export`` and ``report summary``."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, date, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from ..cli_loading import load_app
from ..state import get_state
from .reports import FIELDS, TYPES, export_records, summarise
from .store import Store

report_cli = AppGroup("report", help="What was sent, delivered, bounced or failed (hashed addresses only).")

_TYPES_HELP = f"Comma-separated, from {', '.join(TYPES)} (default: all)."


def _parse_types(value: str | None) -> list[str]:
    if not value:
        return list(TYPES)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in TYPES]
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; use {', '.join(TYPES)}", param_hint="--types")
    return names


def _day(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC).timestamp()
    except ValueError:
        raise click.BadParameter("use a date, e.g. 2026-11-01", param_hint=name) from None


def _store() -> tuple[Flask, Store]:
    app = load_app()
    runtime = get_state(app).outbox
    if runtime is None:
        click.echo("There is no outbox on this stage (DM_EMAIL_OUTBOX_URL is not set): nothing to report.", err=True)
        sys.exit(1)
    return app, runtime.store


@report_cli.command("export", with_appcontext=False)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--since", help="From this UTC day, e.g. 2026-11-01.")
@click.option("--until", help="Before this UTC day.")
@click.option("--types", help=_TYPES_HELP)
def export_command(fmt: str, since: str | None, until: str | None, types: str | None) -> None:
    """Stream one line per event to standard output."""
    names = _parse_types(types)
    start, end = _day(since, "--since"), _day(until, "--until")
    app, store = _store()
    with app.app_context():
        records = export_records(store, types=names, since=start, until=end)
        if fmt == "jsonl":
            for record in records:
                sys.stdout.write(json.dumps(record) + "\n")
            return
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(record)


@report_cli.command("summary", with_appcontext=False)
@click.option("--by", type=click.Choice(["day", "template"]), default="day", show_default=True)
@click.option("--since", help="From this UTC day, e.g. 2026-11-01.")
@click.option("--until", help="Before this UTC day.")
def summary_command(by: str, since: str | None, until: str | None) -> None:
    """A table: how many of each type, per day (UTC) or per template."""
    start, end = _day(since, "--since"), _day(until, "--until")
    app, store = _store()
    with app.app_context():
        columns, rows = summarise(export_records(store, since=start, until=end), by)
    if not rows:
        click.echo("Nothing to report in that period.")
        return
    widths = [max(len(str(c)) for c in column) for column in zip(columns, *rows, strict=False)]
    for line in [columns, *rows]:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip())
