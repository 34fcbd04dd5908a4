"""The three apps bench_callbacks.py serves with gunicorn.

``bare``: a plain Flask endpoint that parses the JSON and answers ``{"status": "ok"}``;
``receipt``: the flask-dm-email callback blueprint taking ``delivered`` receipts;
``deactivate``: the blueprint taking ``permanent-failure`` receipts, with a
``user_deactivator`` that deactivates users in SQLite and writes an audit row.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy

from flask_dm_email import DMEmail

TOKEN = "bench-callback-token-0123456789"
db = SQLAlchemy()


class User(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    email_address = db.Column(db.String, unique=True, nullable=False)
    active = db.Column(db.Boolean, nullable=False, default=True)


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, nullable=False)
    type = db.Column(db.String, nullable=False)


def create_app(mode: str) -> Flask:
    app = Flask(__name__)
    # Receipts are logged as in production: to a file, at INFO.
    handler = logging.FileHandler(os.environ.get("BENCH_LOG", os.devnull))
    logging.getLogger("flask_dm_email").addHandler(handler)
    logging.getLogger("flask_dm_email").setLevel(logging.INFO)
    if mode == "bare":

        @app.post("/callbacks/notify")
        def bare() -> dict[str, Any]:
            request.get_json()
            return {"status": "ok"}

        return app
    app.config.update(
        DM_ENVIRONMENT="test",
        DM_NOTIFY_CALLBACK_TOKEN=TOKEN,
        SQLALCHEMY_DATABASE_URI=os.environ.get("BENCH_DATABASE_URL", "sqlite://"),
    )
    dm_email = DMEmail(app)
    db.init_app(app)
    if mode == "deactivate":

        @dm_email.user_deactivator
        def deactivate(email_address: str, receipt: Any) -> bool:
            user = User.query.filter_by(email_address=email_address, active=True).first()
            if user is None:
                return False
            user.active = False
            db.session.add(AuditEvent(user_id=user.id, type="deactivated after permanent failure"))
            db.session.commit()
            return True

    return app


def create_database(url: str, users: int) -> None:
    os.environ["BENCH_DATABASE_URL"] = url
    app = create_app("deactivate")
    with app.app_context():
        db.create_all()
        db.session.add_all(User(email_address=f"user{i}@example.gov.uk") for i in range(users))
        db.session.commit()
