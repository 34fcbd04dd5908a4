"""``flask --app example_app demo``: the whole loop, scripted, with a verdict.

Each sign-up queues its welcome email in the outbox, in the sign-up's own transaction.
``flask run`` delivers the outbox from a worker thread; this command is not ``flask run``,
so it delivers the outbox itself (``dm_email.outbox.drain()``) while it waits.

The demo never touches the user's data. Its accounts live in a database of its own
(``EXAMPLE_DEMO_DATABASE_URL``, made afresh on each run), and on the simulator (the one
``flask run`` has, if it is up) it is a service of its own, with its own key and callbacks:
its receipts come back to the demo, never to the user's app.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import requests
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from flask_dm_email import QueuedEmail
from flask_dm_email.helpers import hash_string
from flask_dm_email.local_simulator import LocalSimulator, find_simulator
from flask_dm_email.outbox import states
from flask_dm_email.outbox.embedded import EMBEDDED_KEY
from flask_dm_email.testing import serve_app

from . import dm_email, embedded
from .forms import CSRF_FIELD, find_csrf_token
from .models import User, db

QUIET_LOGGERS = ("flask_dm_email", "example_app", "werkzeug")
#: How long step 2 may take to hand every email to Notify (``--timeout`` is for receipts).
DELIVERY_TIMEOUT = 30.0
#: Statuses an email has once Notify has it.
WITH_NOTIFY = frozenset({states.SENT, states.NOTIFY_CREATED, states.NOTIFY_SENDING}) | states.NOTIFY_OUTCOMES

Emails = dict[str, QueuedEmail]  # row id -> row


@dataclass(frozen=True)
class Person:
    """One sign-up of the demo, and what Notify should report for it."""

    name: str
    address: str
    expected_status: str
    expected_active: bool


def _people() -> list[Person]:
    return [
        # example.com is one of the redirected test domains: Notify sees the safe address.
        Person("Alex", f"alex.demo-{secrets.token_hex(3)}@example.com", states.DELIVERED, True),
        # Notify's own test addresses (they work with a test key): not redirected.
        Person("Sam", "temp-fail@simulator.notify", states.TEMPORARY_FAILURE, True),
        Person("Kim", "perm-fail@simulator.notify", states.PERMANENT_FAILURE, False),
    ]


@contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Keep the demo's own lines readable; ``--logs`` shows the app's (hashed) log lines too."""
    if verbose:
        yield
        return
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def demo_database_url(app: Flask) -> str:
    """``EXAMPLE_DEMO_DATABASE_URL``, else ``example-demo.db`` in the instance folder: never
    the database ``flask run`` serves."""
    return os.environ.get("EXAMPLE_DEMO_DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'example-demo.db'}"


def _fresh_sqlite(url: str) -> None:
    """Each run starts from an empty database (a SQLite file is removed; another database is
    the user's to empty)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).unlink(missing_ok=True)


def _register_demo_service(simulator: LocalSimulator) -> tuple[str, str]:
    """A service of the demo's own on the running simulator: its id and test key."""
    started = datetime.now(UTC).strftime("%H:%M:%S")
    response = requests.post(f"{simulator.url}/_simulator/services", timeout=10, json={
        "name": f"Example app demo ({started} UTC)",
        "api_keys": [{"name": "demo-test", "type": "test"}],  # Notify's test addresses need a test key
        "templates": embedded.TEMPLATES,
    })
    response.raise_for_status()
    service = response.json()
    return str(service["id"]), str(service["api_keys"][0]["key"])


def demo_app(app: Flask) -> tuple[Flask, LocalSimulator | None, str | None]:
    """The example app again, for the demo: its own database and, on a simulator, its own
    service (the simulator and the service id, else ``None``); otherwise the app's Notify."""
    from . import create_app

    settings = app.extensions["dm_email"].settings
    database = demo_database_url(app)
    _fresh_sqlite(database)
    config: dict[str, Any] = {"SQLALCHEMY_DATABASE_URI": database, "EXAMPLE_EMBEDDED_SIMULATOR": False,
                              "DM_ENVIRONMENT": settings.stage.value}
    simulator = find_simulator(settings.notify_base_url) if settings.backend == "notify" else None
    service_id = None
    if simulator is not None:
        service_id, key = _register_demo_service(simulator)
        config.update(DM_NOTIFY_KEY=key, DM_NOTIFY_BASE_URL=simulator.url, DM_EMAIL_BACKEND="notify",
                      DM_NOTIFY_CALLBACK_TOKEN=embedded.new_token(), EXAMPLE_INBOX_URL=simulator.inbox_url)
    return create_app(config), simulator, service_id


def _sign_up(client: FlaskClient, person: Person) -> int:
    """Fill in the sign-up form as a browser would (CSRF token included)."""
    token = find_csrf_token(client.get("/signup").get_data(as_text=True)) or ""
    response = client.post("/signup", data={"name": person.name, "email": person.address, CSRF_FIELD: token})
    return response.status_code


def _welcome_email(person: Person) -> QueuedEmail | None:
    """The newest email linked to this person's account (the one the sign-up queued)."""
    db.session.expire_all()
    user = User.query.filter_by(email_address=person.address).first()
    if user is None:
        return None
    found = dm_email.outbox.find(link=user, limit=1)
    return found[0] if found else None


def _deliver_until(done: Callable[[Emails], bool], ids: list[str], timeout: float) -> Emails:
    """Drain the outbox and re-read the emails until ``done`` says so or ``timeout`` passes.

    Draining is what ``flask run``'s worker does; it also picks up a retry that falls due.
    """
    deadline = time.monotonic() + timeout
    while True:
        dm_email.outbox.drain(timeout=max(1.0, deadline - time.monotonic()))
        emails = {i: e for i in ids if (e := dm_email.outbox.get(i)) is not None}
        if done(emails) or time.monotonic() >= deadline:
            return emails
        time.sleep(0.2)


def _fail(message: str) -> None:
    click.echo(f"   FAIL {message}\n\nSomething in the loop did not happen.")
    sys.exit(1)


@click.command("demo")
@click.option("--timeout", default=20.0, show_default=True, help="Seconds to wait for delivery receipts.")
@click.option("--logs", is_flag=True, help="Also show the app's log lines (addresses in them are hashed).")
@with_appcontext
def demo_command(timeout: float, logs: bool) -> None:
    """Sign up three users, deliver their welcome emails, wait for Notify's receipts, and
    show what happened.

    Exits 1 if any step of the loop (queue, send, receipt, deactivation) did not happen.
    """
    app, simulator, service_id = demo_app(current_app._get_current_object())  # type: ignore[attr-defined]
    with app.app_context():
        _run(app, simulator, service_id, timeout, logs)


def _run(app: Flask, simulator: LocalSimulator | None, service_id: str | None, timeout: float, logs: bool) -> None:
    settings = app.extensions["dm_email"].settings
    click.echo(f"Stage {settings.stage.value}, backend {settings.backend}, Notify at {settings.notify_base_url}")
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    click.echo(f"The demo's accounts go in a database of its own, {database} (made afresh on each run): "
               "the accounts you made are left alone.")
    people = _people()
    # On development the first request a process serves starts the outbox worker that
    # `flask run` relies on. This command serves requests too (the sign-ups, the receipts)
    # but delivers the outbox itself, step by step: mark the embedded worker as taken.
    app.extensions.setdefault(EMBEDDED_KEY, None)

    with _quiet(logs), serve_app(app) as url:
        # `flask demo` is not `flask run`: serve the callback endpoint here, on a free port.
        receipts_url = f"{url}{settings.callback_prefix}/notify"
        if simulator is not None and service_id is not None:
            embedded.point_callbacks(simulator.url, receipts_url, settings.callback_tokens[0], service_id)
            click.echo(f"Notify: the local simulator at {simulator.url}, as a service of the demo's own "
                       "(its own key and callbacks: your app's receipts are left alone)")
            click.echo(f"Read the emails in the simulator's inbox: {simulator.inbox_url}")
        click.echo(f"Receipts come back to {receipts_url}")
        client = app.test_client()
        ids: dict[str, str] = {}
        click.echo("\n1. Sign up (each sign-up queues its welcome email in the same transaction)")
        for person in people:
            http_status = _sign_up(client, person)
            email = _welcome_email(person)
            if http_status != 302 or email is None or email.template_name != "welcome":
                _fail(f"{person.name}: the sign-up or its welcome email did not happen (HTTP {http_status})")
                return
            ids[person.address] = email.id
            click.echo(
                f"   {person.name} <{person.address}> (hash {hash_string(person.address)[:12]}…): "
                f"welcome email {email.id} {email.status}"
            )

        click.echo("\n2. Deliver the outbox (`flask run` does it in a worker thread; here the demo drains it)")
        emails = _deliver_until(lambda found: all(e.status in WITH_NOTIFY for e in found.values()),
                                list(ids.values()), DELIVERY_TIMEOUT)
        for person in people:
            email = emails[ids[person.address]]
            if email.status not in WITH_NOTIFY or email.notify_id is None:
                _fail(f"{person.name}: the welcome email was not sent to Notify ({email.status})")
                return
            redirected = "redirected to the safe address" if email.redirected else "not redirected"
            click.echo(f"   {person.name}: sent to Notify, {redirected}, Notify id {email.notify_id}")

        click.echo(f"\n3. Wait up to {timeout:.0f} s for Notify's delivery receipts")
        started = time.monotonic()
        emails = _deliver_until(lambda found: all(states.is_final(e.status) for e in found.values()),
                                list(ids.values()), timeout)
        received = sum(1 for e in emails.values() if e.status in states.NOTIFY_OUTCOMES)
        click.echo(f"   {received} of {len(ids)} receipts in {time.monotonic() - started:.1f} s")
        if simulator is not None and service_id is not None:  # nobody will listen there any more
            requests.post(f"{simulator.url}/_simulator/services/{service_id}/callbacks", timeout=10,
                          json={"delivery_status": None, "complaint": None}).raise_for_status()

    click.echo("\n4. What happened")
    ok = True
    db.session.expire_all()
    for person in people:
        status = emails[ids[person.address]].status
        user = User.query.filter_by(email_address=person.address).one()
        right = status == person.expected_status and user.active == person.expected_active
        ok &= right
        account = "active" if user.active else "inactive (deactivated by the user_deactivator hook)"
        click.echo(f"   {'ok  ' if right else 'FAIL'} {person.name}: email {status}, account {account}")
        if not right:
            expected_account = "active" if person.expected_active else "inactive"
            click.echo(f"        (expected {person.expected_status}, {expected_account})")
    click.echo("\nThe whole loop worked." if ok else "\nSomething in the loop did not happen.")
    sys.exit(0 if ok else 1)
