"""``flask dm-email``: inspect the effective settings, send a test email, run the local
Notify simulator. Output never shows an address, an API key secret or a token."""

from __future__ import annotations

import secrets
import sys
from typing import Any

import click
from flask.cli import AppGroup

from .api_keys import key_name
from .cli_loading import load_app
from .cli_simulator import simulator_banner
from .config import Settings, Stage
from .config_keys import DM_DOTENV_PATH, DM_NOTIFY_KEY, KEYS, SECRET_KEYS
from .errors import EmailError
from .hashing import hash_string
from .local_simulator import describe_notify, find_simulator, stand_in_templates
from .outbox_settings import redact_url
from .pacer import budget_lines
from .sending import send_email
from .state import get_state

dm_email_cli = AppGroup("dm-email", help="GOV.UK Notify email: settings, test sends, simulator.")


def _display(settings: Settings, key: str) -> str:
    if key == DM_NOTIFY_KEY:
        return key_name(settings.notify_key) if settings.notify_key else "(not set)"
    if key in SECRET_KEYS:
        count = len(settings.callback_tokens)
        return f"{count} token(s) set, <redacted>" if count else "(not set)"
    values: dict[str, Any] = {
        "DM_ENVIRONMENT": settings.stage.value,
        "DM_EMAIL_BACKEND": settings.backend,
        "DM_NOTIFY_BASE_URL": settings.notify_base_url,
        "DM_NOTIFY_TEMPLATES": dict(settings.templates) or "{}",
        "DM_NOTIFY_CALLBACK_PREFIX": settings.callback_prefix,
        "DM_NOTIFY_CALLBACKS_ENABLED": settings.callbacks_enabled,
        "DM_NOTIFY_TIMEOUT": settings.retry.timeout,
        "DM_NOTIFY_MAX_ATTEMPTS": settings.retry.max_attempts,
        "DM_NOTIFY_RETRY_BACKOFF": settings.retry.backoff,
        "DM_NOTIFY_RETRY_MAX_BACKOFF": settings.retry.max_backoff,
        "DM_NOTIFY_RETRY_DEADLINE": settings.retry.deadline,
        "DM_NOTIFY_IN_FLIGHT_SECONDS": settings.retry.in_flight_bound,
        "DM_EMAIL_OUTBOX_URL": redact_url(str(settings.outbox.location)) if settings.outbox.enabled else "(no outbox)",
        "DM_EMAIL_RETENTION_DAYS": settings.outbox.retention_days,
        "DM_EMAIL_EVENT_RETENTION_DAYS": settings.outbox.event_retention_days,
        "DM_EMAIL_LEASE_SECONDS": settings.outbox.lease_seconds,
        "DM_EMAIL_ABANDON_AFTER": settings.outbox.abandon_after,
        "DM_EMAIL_RETRY_SCHEDULE": ",".join(f"{d:g}" for d in settings.outbox.retry_schedule),
        "DM_EMAIL_EMBEDDED_WORKER": settings.outbox.embedded_worker,
        "DM_NOTIFY_RATE_LIMIT": settings.pacing.rate_text,
        "DM_NOTIFY_RATE_BURST": settings.pacing.burst,
        "DM_NOTIFY_DAILY_LIMIT": settings.pacing.daily_limit or "(not set: no daily count)",
        "DM_EMAIL_LIMITER_URL": settings.pacing.where,
        "DM_EMAIL_STATUS_PAGE": settings.status_page,
        "DM_EMAIL_STATUS_PAGE_HIDDEN": settings.status_page_hidden,
    }
    if key == "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS":
        # Safe addresses are configuration (a simulator's or a team's inbox), not anybody's
        # personal data: showing them is how a team checks where test mail goes.
        if settings.redirects is None:
            return "(not set)"
        return str(dict(settings.redirects)) or "{}"
    if key == "DM_NOTIFY_ALLOWED_RECIPIENTS":
        if settings.allowed_recipients is None:
            return "(not set: every address allowed)"
        domains = sorted(e for e in settings.allowed_recipients if e.startswith("@"))
        exact = len(settings.allowed_recipients) - len(domains)
        return f"domains {domains or '[]'} and {exact} exact address(es)"
    return str(values.get(key, ""))


def _where_emails_go(settings: Settings) -> str:
    return describe_notify(settings.backend, settings.notify_base_url,
                           look_for_local=settings.stage is Stage.DEVELOPMENT)


@dm_email_cli.command("config", with_appcontext=False)
def config_command() -> None:
    """Show every effective setting and where it came from; exit 1 if any is invalid."""
    app = load_app()
    settings = get_state(app).settings
    click.echo(f"stage: {settings.stage.value}")
    click.echo(f"backend: {settings.backend}")
    click.echo(_where_emails_go(settings))
    if settings.dotenv_path:
        click.echo(f".env file: {settings.dotenv_path}")
    runtime = get_state(app).outbox
    click.echo(f"outbox: {runtime.database.description if runtime else 'none (DM_EMAIL_OUTBOX_URL is not set)'}")
    pacer = get_state(app).pacer
    if pacer is not None:
        with app.app_context():
            for line in budget_lines(pacer.report()):
                click.echo(line)
    width = max(len(k) for k in KEYS)
    for key in KEYS:
        source = settings.sources.get(key, "default")
        click.echo(f"{key:<{width}}  {_display(settings, key)}  [{source}]")
    if DM_DOTENV_PATH in app.config:
        click.echo(f"{DM_DOTENV_PATH}: {app.config[DM_DOTENV_PATH]}")


def _parse_personalisation(pairs: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(
                "use name=value, e.g. --personalisation name=Alex", param_hint="--personalisation"
            )
        result[name] = value
    return result


@dm_email_cli.command("send-test", with_appcontext=False)
@click.option("--to", "to", required=True, help="Recipient address (redirects still apply).")
@click.option("--template", required=True, help="A name from DM_NOTIFY_TEMPLATES or a template id.")
@click.option(
    "--personalisation", "-p", multiple=True, metavar="NAME=VALUE", help="Repeat for each placeholder."
)
@click.option("--reference", default=None, help="Override the default reference.")
def send_test_command(to: str, template: str, personalisation: tuple[str, ...], reference: str | None) -> None:
    """Send one email through the configured backend and say what happened."""
    app = load_app()
    values = _parse_personalisation(personalisation)
    with app.app_context():
        get_state(app)  # an app without init_app is refused before anything is sent
        try:
            result = send_email(to, template, values or None, reference=reference)
        except EmailError as error:
            click.echo(f"Not sent: {error.__class__.__name__}: {error}", err=True)
            sys.exit(1)
    click.echo(f"backend: {result.backend}")
    click.echo(_where_emails_go(get_state(app).settings))
    click.echo(f"notify id: {result.id}")
    click.echo(f"reference: {result.reference}")
    click.echo(f"template id: {result.template_id}")
    click.echo(f"recipient hash: {hash_string(to.strip())}")
    if result.redirected:
        click.echo(f"recipient rewritten: yes ({result.redirect_reason})")
    else:
        click.echo("recipient rewritten: no")


@dm_email_cli.command("simulator", with_appcontext=False)
@click.option("--config", "config_path", default=None, help="Simulator config file (JSON or TOML).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=6011, show_default=True, type=int)
@click.option(
    "--callback-url",
    default=None,
    help="Where to POST receipts; defaults to this app's callback endpoint on 127.0.0.1:5000.",
)
@click.option(
    "--callback-token",
    default=None,
    help="Bearer token for the receipts (default: the app's DM_NOTIFY_CALLBACK_TOKEN, else a new one).",
)
@click.option("--delivery-delay", type=float, default=None, help="Seconds from sending to final status.")
@click.option("--callback-retry-delay", type=float, default=None, help="Seconds between callback retries.")
def simulator_command(
    config_path: str | None,
    host: str,
    port: int,
    callback_url: str | None,
    callback_token: str | None,
    delivery_delay: float | None,
    callback_retry_delay: float | None,
) -> None:
    """Run the local GOV.UK Notify simulator with this app's DM_NOTIFY_TEMPLATES, calling it back with receipts."""
    from .simulator import SimulatorConfigError, serve

    settings = get_state(load_app()).settings
    running = find_simulator(f"http://{host}:{port}")
    if running is not None:
        click.echo(f"A Notify simulator is already running at {running.url}: use it (inbox: {running.inbox_url}).")
        sys.exit(1)
    token = callback_token or (settings.callback_tokens[0] if settings.callback_tokens else None)
    if callback_url is None and settings.callbacks_enabled:
        callback_url = f"http://127.0.0.1:5000{settings.callback_prefix}/notify"
    new_token = None
    if callback_url and token is None:
        # Notify always sends a token; the app accepts any while it has none configured
        # (development and test only), so a fresh one keeps the simulator faithful.
        token = new_token = secrets.token_urlsafe(24)

    def ready(url: str, services: list[dict[str, Any]]) -> None:
        for line in simulator_banner(url, services, settings, callback_url, new_token):
            click.echo(line)

    try:
        serve(
            config_path,
            host,
            port,
            default_callback_url=callback_url,
            default_callback_token=token,
            delivery_delay=delivery_delay,
            callback_retry_delay=callback_retry_delay,
            templates=stand_in_templates(settings.templates),
            on_ready=ready,
        )
    except SimulatorConfigError as error:
        click.echo(f"The simulator's config is not valid: {error}", err=True)
        sys.exit(2)


def _register_outbox_commands() -> None:
    from .outbox.cli import outbox_cli, worker_command

    dm_email_cli.add_command(outbox_cli)
    dm_email_cli.add_command(worker_command)
    from .templates_cli import templates_cli

    dm_email_cli.add_command(templates_cli)
    from .outbox.reports_cli import report_cli

    dm_email_cli.add_command(report_cli)
    from .outbox.bulk_cli import bulk_cli

    dm_email_cli.add_command(bulk_cli)


_register_outbox_commands()
