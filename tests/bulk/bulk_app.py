"""The app ``flask dm-email bulk`` runs as in the subprocess tests: the DM_* settings come
from the environment, as on a server; the template ``news`` from ``BULK_TEMPLATE``."""

from __future__ import annotations

import os

from flask import Flask

from flask_dm_email import DMEmail


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(DM_NOTIFY_TEMPLATES={"news": os.environ["BULK_TEMPLATE"]})
    DMEmail(app)
    return app
