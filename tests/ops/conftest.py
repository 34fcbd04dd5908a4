"""Status page fixtures: the outbox apps of ``tests/outbox`` (SQLite, then PostgreSQL,
sending through the local Notify simulator) with the page turned on, and a browser-like
HTTP session that fills in the page's forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.outbox.sync import sync_statuses

from ..outbox.conftest import make_outbox_app, outbox_url  # noqa: F401  (fixtures used here)

SECRET = "a-secret-key-for-the-status-page-tests"
ALEX = "alex.delivered@gov.uk"
KIM = "kim.failed@gov.uk"
TOKEN_FIELD = re.compile(r'name="dm_email_csrf" value="([^"]+)"')


@pytest.fixture
def page_app(make_outbox_app: Callable[..., Flask]) -> Callable[..., Flask]:  # noqa: F811
    """An outbox app with the status page on and a SECRET_KEY."""

    def build(**overrides: Any) -> Flask:
        return make_outbox_app(**{"DM_EMAIL_STATUS_PAGE": True, "SECRET_KEY": SECRET, **overrides})

    return build


def delivered_and_failed(app: Flask, sim: Any) -> tuple[str, str]:
    """Send one email that Notify delivers and one it refuses (no personalisation: 400);
    their ids."""
    with app.app_context():
        good = queue_email(ALEX, "welcome", {"name": "Alex"}, link=("user", 7))
        DMEmail.outbox.drain(timeout=20)
        notify_id = DMEmail.outbox.get(good.id).notify_id  # type: ignore[union-attr]
        sim.wait_for_status(notify_id, "delivered", timeout=10)
        sync_statuses(app)
        bad = queue_email(KIM, "welcome", link=("user", 8))
        DMEmail.outbox.drain(timeout=20)
        assert DMEmail.outbox.get(good.id).status == "notify-delivered"  # type: ignore[union-attr]
        assert DMEmail.outbox.get(bad.id).status == "failed-send-to-notify"  # type: ignore[union-attr]
    return good.id, bad.id


def form_token(html: str) -> str:
    """The CSRF token in a page's action forms."""
    match = TOKEN_FIELD.search(html)
    assert match, "no action form with a CSRF token on the page"
    return match.group(1)


def post_action(session: requests.Session, url: str, page: str, action: str) -> requests.Response:
    """Load ``page`` as a browser would, then submit its form to ``action``."""
    html = session.get(f"{url}{page}", timeout=10).text
    return session.post(f"{url}{action}", data={"dm_email_csrf": form_token(html)}, timeout=10,
                        allow_redirects=False)
