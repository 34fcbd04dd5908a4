"""A small, real Flask app that uses flask-dm-email end to end.

On ``development`` with no ``DM_NOTIFY_KEY`` it runs the local Notify simulator in the
same process and points both ways at it: the app sends through it, and it calls the
app's callback endpoint with delivery receipts. With a real key (``.env``) the same app
talks to GOV.UK Notify.

Run it from the repository's root::

    flask --app example_app run      # http://127.0.0.1:5000
    flask --app example_app demo     # the whole loop, scripted
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from flask_dm_email import DMEmail
from flask_dm_email.config import Stage, read_raw_settings

from . import embedded
from .embedded import RESET_TEMPLATE_ID, WELCOME_TEMPLATE_ID
from .hooks import register_hooks
from .models import configure_sqlite, db

dm_email = DMEmail()
csrf = CSRFProtect()

EXAMPLE_DEFAULTS: dict[str, Any] = {
    "DM_NOTIFY_TEMPLATES": {"welcome": WELCOME_TEMPLATE_ID, "password-reset": RESET_TEMPLATE_ID,
                            "notice": embedded.NOTICE_TEMPLATE_ID},
    # Digital Marketplace's functional-test domains go to Amazon SES's success mailbox.
    "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {
        "example.com": "success@simulator.amazonses.com",
        "example.gov.uk": "success@simulator.amazonses.com",
        "user.marketplace.team": "success@simulator.amazonses.com",
    },
    # The outbox lives in the example's own database (Flask-SQLAlchemy's engine), so a
    # sign-up's user row and its welcome email commit, or roll back, together.
    "DM_EMAIL_OUTBOX_URL": "sqlalchemy",
}

__all__ = ["RESET_TEMPLATE_ID", "WELCOME_TEMPLATE_ID", "create_app", "csrf", "dm_email"]


def database_url(app: Flask) -> str:
    """``DATABASE_URL`` (PostgreSQL in a real deployment), else SQLite in the instance folder."""
    url = os.environ.get("DATABASE_URL", "")
    for scheme in ("postgres://", "postgresql://"):
        # Heroku-style platforms say postgres://; SQLAlchemy would pick psycopg2 for a bare
        # postgresql://, so name psycopg (3) when that is the driver installed.
        if url.startswith(scheme):
            driver = "postgresql+psycopg://" if find_spec("psycopg") and not find_spec("psycopg2") else "postgresql://"
            url = driver + url.removeprefix(scheme)
    return url or f"sqlite:///{Path(app.instance_path) / 'example.db'}"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory. ``config`` overrides the defaults (tests pass their own)."""
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "dev-only-secret-key"),
        # Where the app is reachable: the embedded simulator sends its callbacks here.
        EXAMPLE_APP_URL=os.environ.get("EXAMPLE_APP_URL", "http://127.0.0.1:5000"),
        EXAMPLE_EMBEDDED_SIMULATOR=os.environ.get("EXAMPLE_EMBEDDED_SIMULATOR", "true").lower()
        not in ("0", "false", "no", "off"),
        EXAMPLE_SIMULATOR_PORT=int(os.environ.get("EXAMPLE_SIMULATOR_PORT", "6011")),
        EXAMPLE_INBOX_URL=None,
    )
    app.config.from_mapping(config or {})
    # The example's own defaults, unless the environment or .env names its own (with a
    # real Notify key, DM_NOTIFY_TEMPLATES must name templates in your service).
    raw, _, _ = read_raw_settings(app.config, os.environ, testing=app.testing)
    for key, value in EXAMPLE_DEFAULTS.items():
        if key not in raw.values:
            app.config[key] = value
    # On development, /_dm_email/ shows the outbox: your sign-up emails and their timelines.
    if raw.stage is Stage.DEVELOPMENT and "DM_EMAIL_STATUS_PAGE" not in raw.values:
        app.config["DM_EMAIL_STATUS_PAGE"] = True
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", database_url(app))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)

    embedded.setup(app)  # before init_app, which reads the key and URL it sets
    dm_email.init_app(app)
    db.init_app(app)
    csrf.init_app(app)
    # Every form is CSRF-protected; Notify's callbacks carry a bearer token, not a cookie.
    callbacks = app.blueprints.get("dm_email_callbacks")
    if callbacks is not None:
        csrf.exempt(callbacks)
    register_hooks(dm_email)
    with app.app_context():
        configure_sqlite(db.engine)  # before the first connection: WAL, as the outbox runs SQLite
        # The example's tables and the outbox's, side by side; a real service would create
        # both with migrations (dm_email.outbox.metadata is Alembic-ready).
        db.create_all()
        if app.extensions["dm_email"].settings.outbox.enabled:
            dm_email.outbox.create_tables()

    from .cli import demo_command
    from .views import bp

    app.register_blueprint(bp)
    app.cli.add_command(demo_command)
    return app
