"""Fixtures for the callback blueprint: an app with a real SQLite database (the example
app's ``User`` with ``active`` and its audit table, and its deactivation hook), and
helpers to post receipts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from example_app.hooks import deactivate_user
from example_app.models import AuditEvent, User, db
from flask_dm_email import DMEmail
from flask_dm_email.testing import complaint, delivery_receipt

TOKEN = "callback-token-0123456789"
NEW_TOKEN = "rotated-token-9876543210"
ADDRESS = "Bounced.Person@example.gov.uk"


def make_receipt(**overrides: Any) -> dict[str, Any]:
    """A receipt as Notify sends it, to ``ADDRESS`` unless overridden."""
    return delivery_receipt(**{"to": ADDRESS, **overrides})


def make_complaint(**overrides: Any) -> dict[str, Any]:
    return complaint(**{"to": ADDRESS, **overrides})


@dataclass
class CallbackApp:
    """An app with the blueprint, a database and a hook whose behaviour tests control."""

    app: Flask
    client: FlaskClient
    db: SQLAlchemy
    User: Any
    AuditEvent: Any
    extension: DMEmail
    hook_calls: list[str] = field(default_factory=list)
    hook_failures: list[Exception] = field(default_factory=list)

    def post(self, body: Any, path: str = "/callbacks/notify", token: str | None = TOKEN, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(path, data=data, headers=headers, content_type="application/json", **kwargs)

    def user(self, address: str = ADDRESS) -> Any:
        with self.app.app_context():
            return self.User.query.filter_by(email_address=address.lower()).one()

    def audit_count(self) -> int:
        with self.app.app_context():
            return int(self.AuditEvent.query.count())


@pytest.fixture
def make_callback_app(tmp_path: Any) -> Callable[..., CallbackApp]:
    def build(with_hook: bool = True, **config: Any) -> CallbackApp:
        extension = DMEmail()
        app = Flask(__name__)
        app.config.update(
            DM_ENVIRONMENT="test",
            DM_NOTIFY_CALLBACK_TOKEN=f"{TOKEN},{NEW_TOKEN}",
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / f'{uuid.uuid4()}.db'}",
        )
        app.config.update(config)
        extension.init_app(app)
        db.init_app(app)
        state = CallbackApp(app, app.test_client(), db, User, AuditEvent, extension)

        if with_hook:

            @extension.user_deactivator
            def deactivate(email_address: str, receipt: Any) -> bool:
                state.hook_calls.append(email_address)
                if state.hook_failures:
                    raise state.hook_failures.pop(0)
                return deactivate_user(email_address, receipt)  # the example app's hook

        with app.app_context():
            db.create_all()
            db.session.add(User(name="Bounced Person", email_address=ADDRESS.lower()))
            db.session.commit()
        return state

    return build


@pytest.fixture
def callbacks(make_callback_app: Callable[..., CallbackApp]) -> Iterator[CallbackApp]:
    yield make_callback_app()
