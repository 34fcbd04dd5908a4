"""The event feed in an outbox database other services share (a page is empty only when
the reader has caught up), and the status page's "release held emails" action and its
message after cancelling an email that may have reached Notify."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from flask import Flask
from sqlalchemy import func, insert, select

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.ops.feed import GAP_SECONDS, read_events
from flask_dm_email.outbox import states
from flask_dm_email.outbox.holds import hold_until_midnight
from flask_dm_email.outbox.tables import event
from flask_dm_email.testing import serve_app

from ..outbox.conftest import TIMEOUT
from .conftest import post_action


def store(app: Flask) -> Any:
    return app.extensions["dm_email"].outbox.store


def two_services(sim: Any, make_outbox_app: Callable[..., Flask]) -> tuple[Flask, Flask]:
    app_a = make_outbox_app()
    service_b = sim.add_service(name="Second app")["id"]
    template_b = sim.add_template(service_b, name="Welcome", subject="Hello ((name))", body="Dear ((name))")
    app_b = make_outbox_app(DM_NOTIFY_KEY=sim.create_api_key(service_b, key_type="test"),
                            DM_NOTIFY_TEMPLATES={"welcome": template_b})
    return app_a, app_b


def read_all(app: Flask, limit: int) -> tuple[list[dict[str, Any]], int, int]:
    """Read the feed as a client does, until a page comes back empty: (events, cursor, pages)."""
    events: list[dict[str, Any]] = []
    cursor, pages = 0, 0
    while True:
        page = read_events(store(app), cursor, limit)
        pages += 1
        cursor = page["next_cursor"]
        if not page["events"]:
            return events, cursor, pages
        events.extend(page["events"])


def test_a_page_is_empty_only_when_the_reader_has_caught_up(
    sim: Any, make_outbox_app: Callable[..., Flask]
) -> None:
    app_a, app_b = two_services(sim, make_outbox_app)
    with app_b.app_context():
        for n in range(5):
            queue_email(f"b{n}@gov.uk", "welcome", {"name": "B"})
    with app_a.app_context():
        mine = [queue_email(f"a{n}@gov.uk", "welcome", {"name": "A"}).id for n in range(3)]
    with app_b.app_context():
        queue_email("b-last@gov.uk", "welcome", {"name": "B"})
    first = read_events(store(app_a), 0, 2)
    assert [e["email_id"] for e in first["events"]] == mine[:2]
    events, cursor, _ = read_all(app_a, 2)
    assert [e["email_id"] for e in events] == mine
    with store(app_a).db.connect() as conn:
        newest = conn.execute(select(func.max(event.c.id))).scalar()
    assert cursor == newest  # the other service's events are passed, never returned
    assert read_events(store(app_a), cursor, 2) == {"events": [], "next_cursor": cursor}
    # The other service reads its own six, and none of these.
    theirs, _, _ = read_all(app_b, 4)
    assert len(theirs) == 6 and not set(mine) & {e["email_id"] for e in theirs}


def test_the_page_still_stops_before_a_recent_gap_and_passes_an_old_one(
    sim: Any, make_outbox_app: Callable[..., Flask]
) -> None:
    app_a, app_b = two_services(sim, make_outbox_app)
    with app_a.app_context():
        first = queue_email("a0@gov.uk", "welcome", {"name": "A"}).id
    with app_b.app_context():
        queue_email("b0@gov.uk", "welcome", {"name": "B"})
    db = store(app_a).db
    with db.begin() as conn:
        newest = conn.execute(select(func.max(event.c.id))).scalar()
        now = float(conn.execute(select(db.now())).scalar_one())
        # An event after a missing id, written just now: the missing one may still commit.
        conn.execute(insert(event).values(id=newest + 2, outbox_id=first, type="note", at=now))
    page = read_events(store(app_a), 0, 10)
    if db.dialect == "sqlite":  # one writer: no gap can still be filled
        assert [e["type"] for e in page["events"]] == ["queued", "note"]
    else:
        assert [e["type"] for e in page["events"]] == ["queued"] and page["next_cursor"] == newest
        with db.begin() as conn:
            conn.execute(event.update().where(event.c.id == newest + 2).values(at=now - GAP_SECONDS - 1))
        later = read_events(store(app_a), page["next_cursor"], 10)
        assert [e["type"] for e in later["events"]] == ["note"] and later["next_cursor"] == newest + 2


def test_release_held_from_the_status_page(page_app: Callable[..., Flask]) -> None:
    app = page_app()
    with app.app_context():
        ids = [queue_email(f"p{n}@gov.uk", "welcome", {"name": "A"}).id for n in range(2)]
        hold_until_midnight(store(app))
    browser = requests.Session()
    with serve_app(app) as url:
        index = browser.get(f"{url}/_dm_email/", timeout=10).text
        assert 'id="held-banner"' in index and 'id="release-held"' in index
        released = post_action(browser, url, "/_dm_email/", "/_dm_email/release-held")
        assert released.status_code == 303
        page = browser.get(f"{url}{released.headers['Location']}", timeout=10).text
        refused = browser.post(f"{url}/_dm_email/release-held", data={}, timeout=10, allow_redirects=False)
    assert "The held emails are queued again" in page and "raise it first" in page
    assert 'id="held-banner"' not in page
    assert refused.status_code == 400  # no CSRF token
    with app.app_context():
        assert {store(app).get(i)["status"] for i in ids} == {states.QUEUED}
        assert all("released" in [e["type"] for e in DMEmail.outbox.events(i)] for i in ids)


def test_cancelling_an_email_that_may_have_reached_notify_says_so(page_app: Callable[..., Flask], sim: Any) -> None:
    app = page_app(DM_EMAIL_RETRY_SCHEDULE="60,60,60,60")
    sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 0.5, hang_when="after_store")
    with app.app_context():
        queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
        DMEmail.outbox.drain()
        assert store(app).get(queued.id)["maybe_sent"]
    browser = requests.Session()
    with serve_app(app) as url:
        page = f"/_dm_email/emails/{queued.id}"
        cancelled = post_action(browser, url, page, f"{page}/cancel")
        assert cancelled.status_code == 303
        shown = browser.get(f"{url}{cancelled.headers['Location']}", timeout=10).text
    assert "The email is cancelled." in shown and "may already have reached Notify" in shown
    assert 'id="may-have-reached-notify"' in shown
