"""``flask --app example_app demo``: the whole loop, scripted, with a verdict."""

from __future__ import annotations

import secrets
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from flask_dm_email.helpers import hash_string
from flask_dm_email.testing import serve_app

from . import embedded
from .models import AuditEvent, SentEmailRecord, User, db

FINAL = {"delivered", "permanent-failure", "temporary-failure", "technical-failure"}


def _wait_for_receipts(ids: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        statuses = {
            r.notification_id: r.status for r in SentEmailRecord.query.filter(SentEmailRecord.notification_id.in_(ids))
        }
        if all(statuses.get(i) in FINAL for i in ids) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.2)


@click.command("demo")
@click.option("--timeout", default=20.0, show_default=True, help="Seconds to wait for delivery receipts.")
@with_appcontext
def demo_command(timeout: float) -> None:
    """Sign up three users, wait for Notify's receipts, and show what happened."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions["dm_email"]
    simulator = app.extensions.get("example_simulator")
    click.echo(
        f"Stage {state.settings.stage.value}, backend {state.backend.name}, Notify at {state.settings.notify_base_url}"
    )
    people = [
        ("Alex", f"alex.demo-{secrets.token_hex(3)}@example.com", "delivered", True),
        ("Sam", "temp-fail@simulator.notify", "temporary-failure", True),
        ("Kim", "perm-fail@simulator.notify", "permanent-failure", False),
    ]
    # Start clean: earlier demo runs leave these two accounts behind.
    for _, address, _, _ in people[1:]:
        old = User.query.filter_by(email_address=address).first()
        if old is not None:
            AuditEvent.query.filter_by(user_id=old.id).delete()
            SentEmailRecord.query.filter_by(user_id=old.id).delete()
            db.session.delete(old)
    db.session.commit()

    with serve_app(app) as url:
        if simulator is not None:
            embedded.point_callbacks(simulator, f"{url}/callbacks/notify", state.settings.callback_tokens[0])
            click.echo(f"Receipts come back to {url}/callbacks/notify; inbox at {simulator.url}/_simulator/inbox")
        client = app.test_client()
        ids: dict[str, str] = {}
        click.echo("\n1. Sign up")
        for name, address, _, _ in people:
            response = client.post("/signup", data={"name": name, "email": address})
            record = SentEmailRecord.query.join(User).filter(User.email_address == address).first()
            if response.status_code != 302 or record is None:
                click.echo(f"   {name} <{address}>: sign-up or welcome email FAILED (HTTP {response.status_code})")
                sys.exit(1)
            ids[address] = record.notification_id
            redirected = "redirected to the safe address" if record.redirected else "not redirected"
            click.echo(
                f"   {name} <{address}> (hash {hash_string(address)[:12]}…): {redirected}, "
                f"Notify id {record.notification_id}"
            )

        click.echo(f"\n2. Wait up to {timeout:.0f} s for Notify's delivery receipts")
        statuses = _wait_for_receipts(list(ids.values()), timeout)
        if simulator is not None:
            embedded.point_callbacks(
                simulator, f"{app.config['EXAMPLE_APP_URL']}/callbacks/notify", state.settings.callback_tokens[0]
            )

    click.echo("\n3. What happened")
    ok = True
    for name, address, expected_status, expected_active in people:
        status = statuses.get(ids[address], "no receipt")
        user = User.query.filter_by(email_address=address).one()
        right = status == expected_status and user.active == expected_active
        ok &= right
        state_text = "active" if user.active else "inactive (deactivated)"
        click.echo(
            f"   {'ok  ' if right else 'FAIL'} {name}: receipt {status}, account {state_text}"
            + ("" if right else f" (expected {expected_status}, {'active' if expected_active else 'inactive'})")
        )
    click.echo("\nThe whole loop worked." if ok else "\nSomething in the loop did not happen.")
    sys.exit(0 if ok else 1)
