"""The app the crash harness's worker processes run: everything from the environment."""

from __future__ import annotations

import os

from flask import Flask

from flask_dm_email import DMEmail


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        DM_ENVIRONMENT="test",
        DM_EMAIL_BACKEND="notify",
        DM_NOTIFY_CALLBACKS_ENABLED=False,
        DM_NOTIFY_KEY=os.environ["CRASH_NOTIFY_KEY"],
        DM_NOTIFY_BASE_URL=os.environ["CRASH_NOTIFY_URL"],
        DM_EMAIL_OUTBOX_URL=os.environ["CRASH_OUTBOX_URL"],
        DM_NOTIFY_TIMEOUT=1,
        DM_NOTIFY_IN_FLIGHT_SECONDS=2,
        DM_EMAIL_LEASE_SECONDS=8,
        DM_EMAIL_RETRY_SCHEDULE="0.2,0.5,1,1,1,1,1,1,1,1",
        DM_EMAIL_ABANDON_AFTER=3600,
    )
    DMEmail(app)
    return app
