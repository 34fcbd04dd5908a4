"""``flask --app example_app demo``: the whole loop, scripted, with a verdict.

Each sign-up queues its welcome email in the outbox, in the sign-up's own transaction.
``flask run`` delivers the outbox from a worker thread; this command is not ``flask run``,
so it delivers the outbox itself (``dm_email.outbox.drain()``) while it waits.
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask.testing import FlaskClient

from flask_dm_email import QueuedEmail
from flask_dm_email.helpers import hash_string
from flask_dm_email.outbox import states
from flask_dm_email.outbox.embedded import EMBEDDED_KEY
from flask_dm_email.testing import serve_app

from . import dm_email, embedded
from .forms import CSRF_FIELD, find_csrf_token
from .models import AuditEvent, User, db

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


def _forget(address: str) -> None:
    """Remove an earlier demo run's account, so each run starts from an active account.

    Its outbox rows stay (the outbox keeps its own history); they stay linked to the old
    user's id, which is never given to another user.
    """
    old = User.query.filter_by(email_address=address).first()
    if old is not None:
        AuditEvent.query.filter_by(user_id=old.id).delete()
        db.session.delete(old)
        db.session.commit()


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
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.extensions["dm_email"].settings
    simulator = app.extensions.get("example_simulator")
    click.echo(f"Stage {settings.stage.value}, backend {settings.backend}, Notify at {settings.notify_base_url}")
    people = _people()
    for person in people[1:]:
        _forget(person.address)
    # On development the first request a process serves starts the outbox worker that
    # `flask run` relies on. This command serves requests too (the sign-ups, the receipts)
    # but delivers the outbox itself, step by step: mark the embedded worker as taken.
    app.extensions.setdefault(EMBEDDED_KEY, None)

    with _quiet(logs), serve_app(app) as url:
        # `flask demo` is not `flask run`: serve the callback endpoint here, on a free port.
        receipts_url = f"{url}{settings.callback_prefix}/notify"
        if simulator is not None:
            embedded.point_callbacks(simulator, receipts_url, settings.callback_tokens[0])
            click.echo(f"The simulator's inbox: {simulator.url}/_simulator/inbox")
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
        if simulator is not None:  # back to where `flask run` would serve them
            embedded.point_callbacks(simulator, embedded.callback_url(app), settings.callback_tokens[0])

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
