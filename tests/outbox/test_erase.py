"""``dm_email.outbox.erase(address)``: a data-subject erasure request, on SQLite and
PostgreSQL, with the simulator as Notify."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from flask_dm_email import DMEmail, EmailInvalidError, queue_email
from flask_dm_email.helpers import hash_string
from flask_dm_email.outbox import states
from flask_dm_email.outbox.store import Store
from flask_dm_email.outbox.tables import event, outbox


def store_of(app: Flask) -> Store:
    return app.extensions["dm_email"].outbox.store  # type: ignore[no-any-return]


def events_of(store: Store, row_id: str) -> int:
    with store.db.connect() as conn:
        return int(conn.execute(select(func.count()).where(event.c.outbox_id == row_id)).scalar_one())


def sent_to(sim: Any, address: str) -> list[dict[str, Any]]:
    return [m for m in sim.messages() if m.get("email_address", "").lower() == address]


def test_erase_removes_every_email_and_event_of_the_address_and_nothing_else(
    make_outbox_app: Callable[..., Flask], sim: Any
) -> None:
    app = make_outbox_app(DM_EMAIL_RETENTION_DAYS=0)
    with app.app_context():
        store = store_of(app)
        sent = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        other = queue_email("grace@gov.uk", "welcome", {"name": "Grace"})
        assert DMEmail.outbox.drain() == 2
        purged = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})  # final, its address purged:
        DMEmail.outbox.cancel(purged.id)                                  # found by its hash only
        assert DMEmail.outbox.purge() == 1
        mixed = queue_email("Ada@Gov.UK", "welcome", {"name": "Ada"})  # another hash, address still held
        waiting = queue_email("ada@gov.uk", "welcome", {"name": "Ada"}, send_after=3600)
        DMEmail.outbox.enqueue_many([{"email_address": "ADA@GOV.UK", "name": "Ada"}], template="welcome", batch="b")
        [bulk] = DMEmail.outbox.find(batch="b")
        later = queue_email("grace@gov.uk", "welcome", {"name": "Grace"})
        ada_ids = [sent.id, purged.id, mixed.id, waiting.id, bulk.id]
        ada_events = sum(events_of(store, row_id) for row_id in ada_ids)
        grace_events = events_of(store, other.id)
        assert len(sent_to(sim, "ada@gov.uk")) == 1

        result = DMEmail.outbox.erase("  Ada@GOV.uk ")  # as typed, with spaces

        assert result.rows == 5 and result.events == ada_events and result.events > 5
        assert result.waiting == 3  # mixed, waiting and the bulk row: never to be sent
        assert result.unclear == 0
        assert result.still_sending == 0 and result.complete
        assert result.address_hash == hash_string("ada@gov.uk")
        assert all(store.get(row_id) is None and events_of(store, row_id) == 0 for row_id in ada_ids)
        assert store.get(other.id) is not None and events_of(store, other.id) == grace_events
        assert DMEmail.outbox.drain() == 1  # only Grace's
        assert store.get(later.id)["status"] == states.SENT  # type: ignore[index]
    assert len(sent_to(sim, "ada@gov.uk")) == 1  # nothing more reached Notify for Ada
    assert len(sent_to(sim, "grace@gov.uk")) == 2


def test_a_mixed_case_request_erases_the_lowercase_rows(make_outbox_app: Callable[..., Flask], sim: Any) -> None:
    app = make_outbox_app()
    with app.app_context():
        queued = queue_email("ada@example.org", "welcome", {"name": "Ada"})
        kept = queue_email("ada@example.net", "welcome", {"name": "Ada"})
        result = DMEmail.outbox.erase("Ada@Example.ORG")
        assert result.rows == 1 and result.waiting == 1
        assert store_of(app).get(queued.id) is None and store_of(app).get(kept.id) is not None
        DMEmail.outbox.drain()
    assert [m["email_address"] for m in sim.messages()] == ["ada@example.net"]


def test_an_email_being_sent_is_kept_and_counted_then_erased_once_sent(
    make_outbox_app: Callable[..., Flask],
) -> None:
    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        in_flight = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        [claimed] = store.claim(1, 60)  # a worker holds it
        assert claimed["id"] == in_flight.id
        waiting = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})

        first = DMEmail.outbox.erase("ada@gov.uk")
        assert (first.rows, first.waiting, first.still_sending, first.complete) == (1, 1, 1, False)
        assert store.get(waiting.id) is None
        row = store.get(in_flight.id)
        assert row is not None and row["status"] == states.SENDING and events_of(store, in_flight.id) > 0

        assert store.finish(claimed["id"], claimed["claim_token"], states.SENT, kind="sent")  # the worker records
        second = DMEmail.outbox.erase("ada@gov.uk")
        assert (second.rows, second.waiting, second.still_sending, second.complete) == (1, 0, 0, True)
        assert store.get(in_flight.id) is None and events_of(store, in_flight.id) == 0


@pytest.mark.parametrize("service", ["this", "another"])
def test_an_email_whose_worker_died_is_erased_once_its_lease_has_ended(
    make_outbox_app: Callable[..., Flask], sim: Any, service: str
) -> None:
    """No worker is running: nothing else would ever move the row out of sending."""
    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        held = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        [claimed] = store.claim(1, 60)  # a worker holds it, then dies
        with store.db.begin() as conn:  # its lease runs out
            values: dict[str, Any] = {"lease_expires_at": 0}
            if service == "another":  # a row of another app sharing the outbox database
                values["service_id"] = "another-service"
            conn.execute(update(outbox).where(outbox.c.id == held.id).values(**values))
        alive = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        [still_held] = store.claim(1, 60)  # a live worker's, lease not ended: kept
        assert still_held["id"] == alive.id

        result = DMEmail.outbox.erase("ada@gov.uk")

        assert (result.rows, result.still_sending, result.waiting) == (1, 1, 0)
        assert result.unclear == 1  # the dead worker may have posted it
        assert store.get(held.id) is None and events_of(store, held.id) == 0
        assert store.get(alive.id)["status"] == states.SENDING  # type: ignore[index]
        assert claimed["id"] == held.id
    assert sim.messages() == []


def test_an_email_retrying_after_an_unclear_attempt_is_counted_apart(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        unclear = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        with store.db.begin() as conn:  # as after a timeout: the request may have reached Notify
            conn.execute(update(outbox).where(outbox.c.id == unclear.id)
                         .values(status=states.RETRYING, maybe_sent=True, next_attempt_at=0))
        result = DMEmail.outbox.erase("ada@gov.uk")
        assert (result.rows, result.waiting, result.unclear, result.complete) == (2, 1, 1, True)


def test_erase_reaches_every_service_in_a_shared_database(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        store = store_of(app)
        theirs = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        with store.db.begin() as conn:  # as another app of the same outbox database queued it
            conn.execute(update(outbox).where(outbox.c.id == theirs.id).values(service_id="another-service"))
        assert DMEmail.outbox.erase("ada@gov.uk").rows == 1
        assert store.get(theirs.id) is None


def test_erase_in_chunks_removes_them_all(make_outbox_app: Callable[..., Flask]) -> None:
    from flask_dm_email.outbox.erase import erase

    app = make_outbox_app()
    with app.app_context():
        ids = [queue_email("ada@gov.uk", "welcome", {"name": str(n)}).id for n in range(7)]
        result = erase(store_of(app), "ada@gov.uk", chunk=3)
        assert result.rows == 7 and result.events == 7  # one "queued" event each
        assert all(store_of(app).get(row_id) is None for row_id in ids)


def test_an_address_that_is_not_one_is_refused_without_repeating_it(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        with pytest.raises(EmailInvalidError, match=r"^address is not a valid email address") as raised:
            DMEmail.outbox.erase("ada at gov.uk")
        assert "ada at" not in str(raised.value)
        assert DMEmail.outbox.counts() == {states.QUEUED: 1}
