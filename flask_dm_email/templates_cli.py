"""``flask dm-email templates check [--json]``: template drift, as a table or JSON, exit 1
when any configured template is missing, archived or not an email template."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from notifications_python_client.errors import APIError

from .cli_loading import load_app
from .state import get_state
from .templates_check import check_templates

templates_cli = AppGroup("templates", help="Check DM_NOTIFY_TEMPLATES against Notify.")

_FIXES = {
    "missing": "no template with this id in the key's service: copy the id again from Notify",
    "archived": "deleted in Notify: every send fails with 'Template has been deleted'",
    "not an email template": "this id is an SMS or letter template",
}


@templates_cli.command("check", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for CI).")
def check_command(as_json: bool) -> None:
    """Fetch every DM_NOTIFY_TEMPLATES id from Notify and report what it needs."""
    app = load_app()
    settings = get_state(app).settings
    if not settings.notify_key:
        click.echo("templates check needs DM_NOTIFY_KEY: it asks Notify (or the simulator at "
                   "DM_NOTIFY_BASE_URL) about each template.", err=True)
        sys.exit(1)
    if not settings.templates:
        click.echo("DM_NOTIFY_TEMPLATES is empty: there is nothing to check.", err=True)
        sys.exit(1)
    try:
        results = check_templates(settings.templates, settings.notify_key, settings.notify_base_url,
                                  settings.retry.timeout)
    except (APIError, OSError) as error:
        status = getattr(error, "status_code", None)
        click.echo(f"Could not ask Notify at {settings.notify_base_url} ({status or type(error).__name__}); "
                   "nothing was checked. Check DM_NOTIFY_KEY and DM_NOTIFY_BASE_URL.", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({"templates": [r.as_dict() for r in results],
                               "ok": all(r.ok for r in results)}, indent=2))
    else:
        rows = [[r.name, r.id, r.status, str(r.version or "-"), ", ".join(r.placeholders) or "-"] for r in results]
        headers = ["name", "id", "status", "version", "placeholders"]
        widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
        for line in [headers, *rows]:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)).rstrip())
        for r in results:
            if not r.ok:
                click.echo(f"{r.name}: {_FIXES[r.status]}", err=True)
    if not all(r.ok for r in results):
        sys.exit(1)
