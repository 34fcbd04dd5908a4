"""``flask --app example_app demo``: the whole loop, scripted, with a verdict."""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask.testing import FlaskClient

from flask_dm_email.helpers import hash_string
from flask_dm_email.testing import serve_app

from . import embedded
from .csrf import FIELD
from .models import AuditEvent, SentEmailRecord, User, db

FINAL = {"delivered", "permanent-failure", "temporary-failure", "technical-failure"}
QUIET_LOGGERS = ("flask_dm_email", "example_app", "werkzeug")


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
        Person("Alex", f"alex.demo-{secrets.token_hex(3)}@example.com", "delivered", True),
        # Notify's own test addresses (they work with a test key): not redirected.
        Person("Sam", "temp-fail@simulator.notify", "temporary-failure", True),
        Person("Kim", "perm-fail@simulator.notify", "permanent-failure", False),
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
    """Remove an earlier demo run's account, so each run starts from an active account."""
    old = User.query.filter_by(email_address=address).first()
    if old is not None:
        AuditEvent.query.filter_by(user_id=old.id).delete()
        SentEmailRecord.query.filter_by(user_id=old.id).delete()
        db.session.delete(old)
        db.session.commit()


def _sign_up(client: FlaskClient, person: Person) -> int:
    """Fill in the sign-up form as a browser would (CSRF token included)."""
    form = client.get("/signup").get_data(as_text=True)
    match = re.search(rf'name="{FIELD}" value="([^"]+)"', form)
    token = match.group(1) if match else ""
    response = client.post("/signup", data={"name": person.name, "email": person.address, FIELD: token})
    return response.status_code


def _wait_for_receipts(ids: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        records = SentEmailRecord.query.filter(SentEmailRecord.notification_id.in_(ids))
        statuses = {r.notification_id: r.status for r in records}
        if all(statuses.get(i) in FINAL for i in ids) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.2)


def _fail(message: str) -> None:
    click.echo(f"   FAIL {message}\n\nSomething in the loop did not happen.")
    sys.exit(1)


@click.command("demo")
@click.option("--timeout", default=20.0, show_default=True, help="Seconds to wait for delivery receipts.")
@click.option("--logs", is_flag=True, help="Also show the app's log lines (addresses in them are hashed).")
@with_appcontext
def demo_command(timeout: float, logs: bool) -> None:
    """Sign up three users, wait for Notify's receipts, and show what happened.

    Exits 1 if any step of the loop (send, receipt, deactivation) did not happen.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.extensions["dm_email"].settings
    simulator = app.extensions.get("example_simulator")
    click.echo(f"Stage {settings.stage.value}, backend {settings.backend}, Notify at {settings.notify_base_url}")
    people = _people()
    for person in people[1:]:
        _forget(person.address)

    with _quiet(logs), serve_app(app) as url:
        # `flask demo` is not `flask run`: serve the callback endpoint here, on a free port.
        receipts_url = f"{url}{settings.callback_prefix}/notify"
        if simulator is not None:
            embedded.point_callbacks(simulator, receipts_url, settings.callback_tokens[0])
            click.echo(f"The simulator's inbox: {simulator.url}/_simulator/inbox")
        click.echo(f"Receipts come back to {receipts_url}")
        client = app.test_client()
        ids: dict[str, str] = {}
        click.echo("\n1. Sign up (each sign-up sends the welcome email)")
        for person in people:
            http_status = _sign_up(client, person)
            db.session.expire_all()
            record = SentEmailRecord.query.join(User).filter(User.email_address == person.address).first()
            if http_status != 302 or record is None:
                _fail(f"{person.name}: sign-up or welcome email did not happen (HTTP {http_status})")
                return
            ids[person.address] = record.notification_id
            redirected = "redirected to the safe address" if record.redirected else "not redirected"
            click.echo(
                f"   {person.name} <{person.address}> (hash {hash_string(person.address)[:12]}…): "
                f"{redirected}, Notify id {record.notification_id}"
            )

        click.echo(f"\n2. Wait up to {timeout:.0f} s for Notify's delivery receipts")
        started = time.monotonic()
        statuses = _wait_for_receipts(list(ids.values()), timeout)
        received = sum(1 for s in statuses.values() if s in FINAL)
        click.echo(f"   {received} of {len(ids)} receipts in {time.monotonic() - started:.1f} s")
        if simulator is not None:  # back to where `flask run` would serve them
            embedded.point_callbacks(simulator, embedded.callback_url(app), settings.callback_tokens[0])

    click.echo("\n3. What happened")
    ok = True
    for person in people:
        status = statuses.get(ids[person.address], "no receipt")
        user = User.query.filter_by(email_address=person.address).one()
        right = status == person.expected_status and user.active == person.expected_active
        ok &= right
        account = "active" if user.active else "inactive (deactivated by the user_deactivator hook)"
        click.echo(f"   {'ok  ' if right else 'FAIL'} {person.name}: receipt {status}, account {account}")
        if not right:
            expected_account = "active" if person.expected_active else "inactive"
            click.echo(f"        (expected {person.expected_status}, {expected_account})")
    click.echo("\nThe whole loop worked." if ok else "\nSomething in the loop did not happen.")
    sys.exit(0 if ok else 1)
