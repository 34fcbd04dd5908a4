"""A small, real Flask app that uses flask-dm-email end to end.

On ``development`` with no ``DM_NOTIFY_KEY`` it runs the local Notify simulator in the
same process and points both ways at it: the app sends through it, and it calls the
app's callback endpoint with delivery receipts. With a real key (``.env``) the same app
talks to GOV.UK Notify.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from flask_dm_email import DMEmail

from . import embedded
from .embedded import RESET_TEMPLATE_ID, WELCOME_TEMPLATE_ID
from .hooks import register_hooks
from .models import db

dm_email = DMEmail()

__all__ = ["RESET_TEMPLATE_ID", "WELCOME_TEMPLATE_ID", "create_app", "dm_email"]


def _database_url(app: Flask) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres://"):  # the scheme Heroku-style platforms give; SQLAlchemy wants this one
        url = "postgresql://" + url.removeprefix("postgres://")
    return url or f"sqlite:///{Path(app.instance_path) / 'example.db'}"


def _wants_embedded_simulator(app: Flask) -> bool:
    if not app.config["EXAMPLE_EMBEDDED_SIMULATOR"]:
        return False
    stage = str(app.config.get("DM_ENVIRONMENT") or os.environ.get("DM_ENVIRONMENT") or "development")
    has_key = app.config.get("DM_NOTIFY_KEY") or os.environ.get("DM_NOTIFY_KEY") or os.environ.get("DM_NOTIFY_API_KEY")
    if not has_key and stage in ("development", "local"):
        from dotenv import dotenv_values, find_dotenv

        dotenv = dotenv_values(find_dotenv(usecwd=True)) if find_dotenv(usecwd=True) else {}
        has_key = dotenv.get("DM_NOTIFY_KEY") or dotenv.get("DM_NOTIFY_API_KEY")
    return stage in ("development", "local") and not has_key


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory."""
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "dev-only-secret-key"),
        EXAMPLE_APP_URL=os.environ.get("EXAMPLE_APP_URL", "http://127.0.0.1:5000"),
        EXAMPLE_EMBEDDED_SIMULATOR=True,
        EXAMPLE_SIMULATOR_PORT=int(os.environ.get("EXAMPLE_SIMULATOR_PORT", "6011")),
        DM_NOTIFY_TEMPLATES={"welcome": WELCOME_TEMPLATE_ID, "password-reset": RESET_TEMPLATE_ID},
        # Digital Marketplace's functional-test domains go to Amazon SES's success mailbox.
        DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={
            "example.com": "success@simulator.amazonses.com",
            "example.gov.uk": "success@simulator.amazonses.com",
            "user.marketplace.team": "success@simulator.amazonses.com",
        },
    )
    app.config.from_mapping(config or {})
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", _database_url(app))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)
    if _wants_embedded_simulator(app):
        token = embedded.new_token()
        simulator = embedded.start(
            app.config["EXAMPLE_SIMULATOR_PORT"], f"{app.config['EXAMPLE_APP_URL']}/callbacks/notify", token
        )
        embedded.configure(app.config, simulator, token)
        app.extensions["example_simulator"] = simulator
    dm_email.init_app(app)
    db.init_app(app)
    register_hooks(dm_email, app)
    with app.app_context():
        db.create_all()

    from .cli import demo_command
    from .views import bp

    app.register_blueprint(bp)
    app.cli.add_command(demo_command)
    return app
