"""An adopter's small app for ``flask dm-email simulator`` run in a subprocess: development,
its own DM_NOTIFY_TEMPLATES, and whatever key and URL its environment (.env) gives it."""

from __future__ import annotations

from flask import Flask

from flask_dm_email import DMEmail

WELCOME = "f33517ff-2a88-4f6e-b855-c550268ce08a"


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="development", DM_NOTIFY_TEMPLATES={"welcome": WELCOME})
    DMEmail(app)
    return app
