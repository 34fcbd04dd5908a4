"""The app every process of the shared-budget and daily-limit tests runs (workers through
``flask dm-email worker``, synchronous senders through ``python -m
tests.pacing.budget_sender``): one Notify key, one outbox, one limiter store, all from
the environment."""

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
        DM_NOTIFY_KEY=os.environ["BUDGET_NOTIFY_KEY"],
        DM_NOTIFY_BASE_URL=os.environ["BUDGET_NOTIFY_URL"],
        DM_NOTIFY_TEMPLATES={"welcome": os.environ["BUDGET_TEMPLATE_ID"]},
        DM_EMAIL_OUTBOX_URL=os.environ["BUDGET_OUTBOX_URL"],
        DM_EMAIL_LIMITER_URL=os.environ["BUDGET_LIMITER_URL"],
        DM_NOTIFY_RATE_LIMIT=os.environ["BUDGET_RATE"],
        DM_NOTIFY_RATE_BURST=os.environ["BUDGET_BURST"],
        DM_NOTIFY_DAILY_LIMIT=os.environ.get("BUDGET_DAILY_LIMIT") or None,
        DM_EMAIL_RETRY_SCHEDULE="0.2,0.5,1,1,1",
    )
    DMEmail(app)
    return app
