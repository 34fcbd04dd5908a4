"""The whole loop over real HTTP: the app sends through the simulator, the simulator
calls the app back; a deactivation hook whose database is down for a while still
deactivates the user exactly once, through Notify's retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from example_app.hooks import deactivate_user
from example_app.models import AuditEvent, User, db
from flask_dm_email import DMEmail, EmailInvalidError, send_email
from flask_dm_email.signals import user_deactivated
from flask_dm_email.testing import serve_app

TOKEN = "reliability-callback-token"


class DatabaseDown(Exception):
    """Stands in for an OperationalError while the database is unreachable."""


@pytest.fixture
def loop(make_app: Callable[..., Flask], notify_simulator: Any, tmp_path: Any) -> Iterator[dict[str, Any]]:
    extension = DMEmail()
    outage = {"failures_left": 0}
    calls: list[str] = []

    @extension.user_deactivator
    def deactivate(email_address: str, receipt: Any) -> bool:
        calls.append(receipt["id"])
        if outage["failures_left"] > 0:
            outage["failures_left"] -= 1
            raise DatabaseDown(f"could not reach the database while handling {email_address}")
        return deactivate_user(email_address, receipt)  # the example app's hook

    sim = notify_simulator
    template = sim.add_template(name="Welcome", subject="Hi", body="Hello ((name))")
    app = make_app(
        extension,
        DM_ENVIRONMENT="test",
        DM_EMAIL_BACKEND="notify",
        DM_NOTIFY_KEY=sim.create_api_key(key_type="test"),
        DM_NOTIFY_BASE_URL=sim.url,
        DM_NOTIFY_TEMPLATES={"welcome": template},
        DM_NOTIFY_CALLBACK_TOKEN=TOKEN,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'app.db'}",
    )
    db.init_app(app)
    with app.app_context():
        db.create_all()
        db.session.add_all(
            [User(name="Kim", email_address="perm-fail@simulator.notify"), User(name="Ok", email_address="ok@gov.uk")]
        )
        db.session.commit()
    with serve_app(app) as url:
        sim.set_callbacks(delivery_status=(f"{url}/callbacks/notify", TOKEN))
        yield {
            "app": app,
            "sim": sim,
            "db": db,
            "User": User,
            "AuditEvent": AuditEvent,
            "outage": outage,
            "calls": calls,
            "url": url,
        }


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_database_outage_is_ridden_out_by_notify_retries(loop: dict[str, Any]) -> None:
    app, sim, outage = loop["app"], loop["sim"], loop["outage"]
    outage["failures_left"] = 3
    deactivations: list[str] = []
    with user_deactivated.connected_to(lambda sender, **kw: deactivations.append(kw["email_hash"]), app):
        with app.app_context():
            result = send_email("perm-fail@simulator.notify", "welcome", {"name": "A"})
        attempts = sim.wait_for_callbacks(1, timeout=15, notification_id=result.id, result="ok")
        wait_until(lambda: len(loop["calls"]) >= 4)
    results = [a["result"] for a in sim.callback_attempts if a["notification_id"] == result.id]
    assert results == ["retry", "retry", "retry", "ok"]
    assert [a["status_code"] for a in attempts] == [200]
    with app.app_context():
        user = loop["User"].query.filter_by(email_address="perm-fail@simulator.notify").one()
        assert user.active is False
        assert loop["AuditEvent"].query.count() == 1
    assert len(deactivations) == 1


def test_a_repeated_receipt_changes_nothing(loop: dict[str, Any]) -> None:
    import requests

    app, sim = loop["app"], loop["sim"]
    with app.app_context():
        result = send_email("perm-fail@simulator.notify", "welcome", {"name": "A"})
    [attempt] = sim.wait_for_callbacks(1, timeout=10, notification_id=result.id, result="ok")
    again = requests.post(
        f"{loop['url']}/callbacks/notify",
        data=attempt["payload"],
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert again.status_code == 200
    with app.app_context():
        assert loop["AuditEvent"].query.count() == 1


def test_privacy_audit_of_the_whole_loop(loop: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    """Sends, receipts, a deactivation, a hook failure and errors: no log record and no
    response body of the app carries an address, the key or the callback token."""
    import requests

    caplog.set_level(logging.DEBUG)
    app, sim, outage = loop["app"], loop["sim"], loop["outage"]
    key = app.extensions["dm_email"].settings.notify_key
    addresses = ["perm-fail@simulator.notify", "ok@gov.uk", "temp-fail@simulator.notify"]
    bodies: list[str] = []
    outage["failures_left"] = 1
    with app.app_context():
        ids = [send_email(a, "welcome", {"name": "Private Name"}).id for a in addresses]
        with pytest.raises(EmailInvalidError):
            send_email("broken address@gov.uk", "welcome", {"name": "Private Name"})
    for notification_id in ids:
        sim.wait_for_callbacks(1, timeout=15, notification_id=notification_id, result="ok")
    bodies += [str(a.get("response_body", "")) for a in sim.callback_attempts]
    for headers in ({}, {"Authorization": "Bearer wrong-token-123"}, {"Authorization": f"Bearer {TOKEN}"}):
        response = requests.post(
            f"{loop['url']}/callbacks/notify", json={"to": addresses[1]}, headers=headers, timeout=5
        )
        assert response.status_code in (400, 401)
        bodies.append(response.text)
    records = [r.getMessage() + " " + repr(r.__dict__) for r in caplog.records]
    assert records
    for text in records + bodies:
        for secret in [*addresses, "broken address@gov.uk", "Private Name", TOKEN, "wrong-token-123", key[-36:]]:
            assert secret not in text
