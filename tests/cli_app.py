"""A minimal app for CLI tests run in a subprocess (``flask --app tests.cli_app``)."""

from __future__ import annotations

from flask import Flask

from flask_dm_email import DMEmail


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_NOTIFY_CALLBACK_TOKEN="cli-test-token-0123456789")
    DMEmail(app)
    return app


def create_app_without_token() -> Flask:
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="development", DM_EMAIL_BACKEND="log")
    DMEmail(app)
    return app
