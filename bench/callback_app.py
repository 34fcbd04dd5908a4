"""The apps bench_callbacks.py serves with gunicorn.

``bare``: a plain Flask endpoint that parses the JSON and answers ``{"status": "ok"}``;
``receipt``: the flask-dm-email callback blueprint taking ``delivered`` receipts, in an
app without an outbox or a database (what the blueprint itself costs);
``deactivate``: the blueprint taking ``permanent-failure`` receipts, with the example
app's ``user_deactivator``, which deactivates users in SQLite and writes an audit row
(SQLite set up by the example app's own ``configure_sqlite``: WAL, ``synchronous=NORMAL``);
``outbox``: ``receipt`` with an outbox in a SQLite file (``BENCH_OUTBOX_URL``), which
looks up the row each receipt is about.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, request

from example_app.hooks import deactivate_user
from example_app.models import User, configure_sqlite, db
from flask_dm_email import DMEmail

TOKEN = "bench-callback-token-0123456789"


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
        DM_EMAIL_OUTBOX_URL=os.environ.get("BENCH_OUTBOX_URL", "sqlite://") if mode == "outbox" else "off",
    )
    dm_email = DMEmail(app)
    if mode == "deactivate":
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("BENCH_DATABASE_URL", "sqlite://")
        db.init_app(app)
        with app.app_context():
            configure_sqlite(db.engine)  # as the example app sets up its own database
        # The example app's own hook: one transaction, idempotent.
        dm_email.user_deactivator(deactivate_user)
    return app


def create_database(url: str, users: int, outbox_url: str | None = None) -> None:
    """The users (c) deactivates, and the outbox's tables for (d)."""
    os.environ["BENCH_DATABASE_URL"] = url
    app = create_app("deactivate")
    with app.app_context():
        db.create_all()
        db.session.add_all(User(name=f"User {i}", email_address=f"user{i}@example.gov.uk") for i in range(users))
        db.session.commit()
    if outbox_url:
        os.environ["BENCH_OUTBOX_URL"] = outbox_url
        app = create_app("outbox")
        app.extensions["dm_email"].outbox.store.create_tables()
