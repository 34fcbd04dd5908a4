"""A small Flask app that uses flask-dm-email end to end."""

from __future__ import annotations

from flask import Flask

from flask_dm_email import DMEmail

WELCOME_TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
RESET_TEMPLATE_ID = "0d1d5bd8-6bd5-4dbc-bc1e-7b02e4c4bd0c"

dm_email = DMEmail()


def create_app(config: dict[str, object] | None = None) -> Flask:
    """The app factory."""
    app = Flask(__name__)
    app.config.from_mapping(
        DM_NOTIFY_TEMPLATES={"welcome": WELCOME_TEMPLATE_ID, "password-reset": RESET_TEMPLATE_ID},
        DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={
            "example.com": "success@simulator.amazonses.com",
            "example.gov.uk": "success@simulator.amazonses.com",
            "user.marketplace.team": "success@simulator.amazonses.com",
        },
    )
    app.config.from_mapping(config or {})
    dm_email.init_app(app)
    return app
