"""The Prometheus counters (``dm_email_receipts_total``, ``dm_email_notify_refusals_total``)
never go down when the event retention or an erasure deletes the events they count: a fall
reads as a counter reset, a false spike in ``rate()``. On SQLite and PostgreSQL, scraped
over the metrics endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.outbox import states
from flask_dm_email.outbox.receipts import apply_receipt
from flask_dm_email.outbox.retention import purge_events
from flask_dm_email.outbox.store import Store
from flask_dm_email.outbox.tables import event, outbox

Counters = dict[tuple[str, str], float]


def counters(app: Flask) -> Counters:
    """The two counters' samples, by (name, label value), as Prometheus reads them."""
    text = app.test_client().get("/_dm_email/metrics").get_data(as_text=True)
    return {(s.name, next(iter(s.labels.values()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name in ("dm_email_receipts_total", "dm_email_notify_refusals_total")}


def never_lower(before: Counters, after: Counters) -> None:
    for key, value in before.items():
        assert after.get(key, 0) >= value, f"{key} went down: {value} -> {after.get(key, 0)}"


def store_of(app: Flask) -> Store:
    return app.extensions["dm_email"].outbox.store  # type: ignore[no-any-return]


def receipt(app: Flask, row_id: str, status: str) -> None:
    row = store_of(app).get(row_id)
    assert row is not None and row["notify_id"]
    apply_receipt(app, store_of(app), {"id": row["notify_id"], "reference": None, "status": status})


def event_count(store: Store) -> int:
    with store.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(event)).scalar_one())


def age_every_event(store: Store, days: float) -> None:
    with store.db.begin() as conn:
        conn.execute(update(event).values(at=event.c.at - days * 86400))


def test_counters_hold_through_erasure_and_event_retention(make_outbox_app: Callable[..., Flask], sim: Any) -> None:
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    with app.app_context():
        store = store_of(app)
        ada = [queue_email("ada@gov.uk", "welcome", {"name": "A"}) for _ in range(2)]
        grace = [queue_email("grace@gov.uk", "welcome", {"name": "G"}) for _ in range(3)]
        sim.set_faults(force_429=1)  # one rate-limited event, on whichever row went first
        # On a loaded machine a request may outlast the tests' 0.5 s timeout: that email
        # is looked up once nothing can still arrive (2 s here), then found or sent.
        deadline = time.monotonic() + 30
        DMEmail.outbox.drain(timeout=30)
        while DMEmail.outbox.counts() != {states.SENT: 5} and time.monotonic() < deadline:
            time.sleep(0.2)
            DMEmail.outbox.drain(timeout=30)
        assert DMEmail.outbox.counts() == {states.SENT: 5}
        for email in ada:
            receipt(app, email.id, "delivered")
        receipt(app, grace[0].id, "delivered")
        receipt(app, grace[1].id, "permanent-failure")
        first = counters(app)
        assert first[("dm_email_receipts_total", states.DELIVERED)] == 3
        assert first[("dm_email_receipts_total", states.PERMANENT_FAILURE)] == 1
        assert first[("dm_email_notify_refusals_total", "rate-limited")] == 1

        assert DMEmail.outbox.erase("ada@gov.uk").rows == 2  # with their receipts
        assert counters(app) == first

        age_every_event(store, 91)  # the default DM_EMAIL_EVENT_RETENTION_DAYS is 90
        purged = DMEmail.outbox.purge()
        assert purged.events > 0
        assert counters(app) == first
        assert DMEmail.outbox.purge().events == 0 and counters(app) == first  # nothing counted twice

        receipt(app, grace[2].id, "delivered")  # counting goes on from there
        latest = counters(app)
        never_lower(first, latest)
        assert latest[("dm_email_receipts_total", states.DELIVERED)] == 4


def test_another_services_deleted_events_stay_out_of_this_services_counters(
    make_outbox_app: Callable[..., Flask],
) -> None:
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    with app.app_context():
        store = store_of(app)
        mine = queue_email("ada@gov.uk", "welcome", {"name": "A"})
        theirs = queue_email("grace@gov.uk", "welcome", {"name": "G"})
        with store.db.begin() as conn:
            for email in (mine, theirs):
                store.add_event(conn, email.id, "receipt", status=states.DELIVERED)
            conn.execute(update(outbox).where(outbox.c.id == theirs.id).values(service_id="another-service"))
        before = counters(app)
        assert before[("dm_email_receipts_total", states.DELIVERED)] == 1
        DMEmail.outbox.erase("grace@gov.uk")
        DMEmail.outbox.erase("ada@gov.uk")
        assert counters(app) == before


def test_purges_running_at_once_count_each_deleted_event_once(make_outbox_app: Callable[..., Flask]) -> None:
    """Two processes' hourly housekeeping may overlap: what each deletes is what it adds."""
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    with app.app_context():
        store = store_of(app)
        emails = [queue_email(f"p{n}@gov.uk", "welcome", {"name": "A"}) for n in range(40)]
        with store.db.begin() as conn:
            conn.execute(update(outbox).values(status=states.DELIVERED))
            for email in emails:
                for _ in range(5):
                    store.add_event(conn, email.id, "receipt", status=states.DELIVERED)
                store.add_event(conn, email.id, "rate-limited")
        before = counters(app)
        age_every_event(store, 1)
        errors: list[BaseException] = []

        def purge() -> None:
            try:
                purge_events(store, 0.5, chunk=50)
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=purge) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert event_count(store) == 0
        assert before[("dm_email_receipts_total", states.DELIVERED)] == 200
        assert counters(app) == before


def test_deleting_events_no_email_owns_counts_nothing(make_outbox_app: Callable[..., Flask]) -> None:
    """They were never counted (the counters are per service, and such events have none)."""
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    with app.app_context():
        store = store_of(app)
        with store.db.begin() as conn:
            store.add_event(conn, "no-such-email", "receipt", status=states.DELIVERED)
        before = counters(app)
        age_every_event(store, 91)
        assert DMEmail.outbox.purge().events == 1
        assert counters(app) == before
        assert ("dm_email_receipts_total", states.DELIVERED) not in before
