"""Event retention (``DM_EMAIL_EVENT_RETENTION_DAYS``): old events of final emails are
deleted by the housekeeping, on SQLite and PostgreSQL; recent ones, and every event of an
email not yet final, stay."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from flask_dm_email import DMEmail, EmailConfigError, queue_email
from flask_dm_email.ops import feed
from flask_dm_email.outbox.retention import PurgeResult, purge_events
from flask_dm_email.outbox.store import Store
from flask_dm_email.outbox.tables import event, outbox

DAY = 86400.0


def store_of(app: Flask) -> Store:
    return app.extensions["dm_email"].outbox.store  # type: ignore[no-any-return]


def events_of(store: Store, row_id: str) -> int:
    with store.db.connect() as conn:
        return int(conn.execute(select(func.count()).where(event.c.outbox_id == row_id)).scalar_one())


def age_events(store: Store, row_id: str, days: float) -> None:
    """Move a row's events ``days`` into the past, as if they had happened then."""
    with store.db.begin() as conn:
        conn.execute(update(event).where(event.c.outbox_id == row_id).values(at=event.c.at - days * DAY))


def test_old_events_of_final_emails_go_recent_and_unfinished_ones_stay(
    make_outbox_app: Callable[..., Flask],
) -> None:
    app = make_outbox_app(DM_EMAIL_EVENT_RETENTION_DAYS=30)
    with app.app_context():
        store = store_of(app)
        old_final = queue_email("a@gov.uk", "welcome", {"name": "A"})
        DMEmail.outbox.cancel(old_final.id)
        recent_final = queue_email("b@gov.uk", "welcome", {"name": "B"})
        DMEmail.outbox.cancel(recent_final.id)
        old_waiting = queue_email("c@gov.uk", "welcome", {"name": "C"}, send_after=3600)
        theirs = queue_email("d@gov.uk", "welcome", {"name": "D"})
        DMEmail.outbox.cancel(theirs.id)
        with store.db.begin() as conn:  # another app's email in a shared database: its retention, not ours
            conn.execute(update(outbox).where(outbox.c.id == theirs.id).values(service_id="another-service"))
        for row_id in (old_final.id, old_waiting.id, theirs.id):
            age_events(store, row_id, 31)
        age_events(store, recent_final.id, 29)

        result = DMEmail.outbox.purge()

        assert isinstance(result, PurgeResult) and result == 0  # no address past DM_EMAIL_RETENTION_DAYS (7)
        assert result.events == 2 and result.rows == 0  # old_final's "queued" and "cancelled"
        assert events_of(store, old_final.id) == 0
        assert store.get(old_final.id) is not None  # the row stays (its hash, id, status)
        assert events_of(store, recent_final.id) == 2
        assert events_of(store, old_waiting.id) == 1  # not final: its timeline is still needed
        assert events_of(store, theirs.id) == 2
        assert DMEmail.outbox.purge().events == 0


def test_a_purge_walks_the_events_a_chunk_at_a_time(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        old = [queue_email(f"p{n}@gov.uk", "welcome", {"name": str(n)}).id for n in range(5)]
        kept = queue_email("q@gov.uk", "welcome", {"name": "Q"}, send_after=3600)
        for row_id in old:
            DMEmail.outbox.cancel(row_id)
        fresh = queue_email("r@gov.uk", "welcome", {"name": "R"})
        DMEmail.outbox.cancel(fresh.id)
        for row_id in [*old, kept.id]:
            age_events(store, row_id, 100)
        assert purge_events(store, 90, chunk=3) == 10  # 5 rows x (queued, cancelled), over 4 chunks
        assert all(events_of(store, row_id) == 0 for row_id in old)
        assert events_of(store, kept.id) == 1 and events_of(store, fresh.id) == 2


def test_the_worker_housekeeping_deletes_old_events(make_outbox_app: Callable[..., Flask]) -> None:
    from flask_dm_email.outbox.worker import Housekeeping

    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        email = queue_email("a@gov.uk", "welcome", {"name": "A"})
        DMEmail.outbox.cancel(email.id)
        age_events(store, email.id, 91)  # past the default, 90 days
    chores = Housekeeping(app).run_due()
    assert chores is not None
    chores.join(30)
    with app.app_context():
        assert events_of(store, email.id) == 0


def test_a_stopping_purge_stops_between_transactions_and_the_next_carries_on(
    make_outbox_app: Callable[..., Flask],
) -> None:
    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        rows = [queue_email(f"{n}@gov.uk", "welcome", {"name": "N"}).id for n in "abcd"]
        for row_id in rows:
            DMEmail.outbox.cancel(row_id)
            age_events(store, row_id, 100)
    stopping = threading.Event()
    stopping.set()
    assert purge_events(store, 90, chunk=2, stopping=stopping) == 2  # one transaction, then it stops
    assert purge_events(store, 90, chunk=2) == 6
    assert all(events_of(store, row_id) == 0 for row_id in rows)


def test_a_long_purge_never_holds_up_sending(
    make_outbox_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first purge after an upgrade may walk millions of old events: the worker goes on
    sending meanwhile (its housekeeping runs in a thread of its own)."""
    from flask_dm_email.outbox import retention
    from flask_dm_email.outbox.worker import Worker

    purging, release = threading.Event(), threading.Event()
    real_purge_events = retention.purge_events

    def slow_purge_events(*args: Any, **kwargs: Any) -> int:
        purging.set()
        release.wait(30)  # as long as the test needs
        return real_purge_events(*args, **kwargs)

    monkeypatch.setattr(retention, "purge_events", slow_purge_events)
    app = make_outbox_app()
    worker = Worker(app, threads=2, poll=0.1, listen=False)
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()
    try:
        assert purging.wait(10), "the worker's housekeeping never started"
        with app.app_context():
            email_id = queue_email("ada@example.com", "welcome", {"name": "Ada"}).id
        deadline = time.monotonic() + 15
        status = "queued"
        while status == "queued" and time.monotonic() < deadline:
            time.sleep(0.05)
            with app.app_context():
                status = DMEmail.outbox.get(email_id).status  # type: ignore[union-attr]
        assert status != "queued", "the worker sent nothing while the purge ran"
        assert purging.is_set() and not release.is_set()  # the purge is still going
    finally:
        release.set()
        worker.stop()
        running.join(15)
        worker.close()
    assert not running.is_alive()


def test_the_event_feed_passes_the_gap_a_purge_leaves(
    make_outbox_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        first = queue_email("a@gov.uk", "welcome", {"name": "A"})
        DMEmail.outbox.cancel(first.id)
        age_events(store, first.id, 100)
        second = queue_email("b@gov.uk", "welcome", {"name": "B"})
        assert DMEmail.outbox.purge().events == 2
        # A gap is waited for while the event after it is younger than GAP_SECONDS (it may
        # be a transaction still committing), then passed.
        monkeypatch.setattr(feed, "GAP_SECONDS", 0.0)
        page = feed.read_events(store, 0, 100)
        assert [e["email_id"] for e in page["events"]] == [second.id]
        assert feed.read_events(store, page["next_cursor"], 100)["events"] == []


@pytest.mark.parametrize("value", ["three months", -1, 4000])
def test_a_bad_retention_is_refused_naming_the_key_and_a_valid_value(value: Any) -> None:
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="memory", DM_EMAIL_EVENT_RETENTION_DAYS=value)
    with pytest.raises(EmailConfigError) as raised:
        DMEmail(app)
    assert "DM_EMAIL_EVENT_RETENTION_DAYS" in str(raised.value) and "90" in str(raised.value)


def test_a_purge_result_survives_pickle_and_copy() -> None:
    """A Celery task (pickle serializer) or a copy hands it on whole."""
    import copy
    import pickle

    result = PurgeResult(3, 7)
    for again in (pickle.loads(pickle.dumps(result)), copy.copy(result), copy.deepcopy(result)):  # noqa: S301
        assert (int(again), again.events, again.rows) == (3, 7, 3)
