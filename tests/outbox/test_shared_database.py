"""Several apps, each its own GOV.UK Notify service, sharing one outbox database: each
app's dedupe keys and batches are its own, and an app never reads or steers another's
emails by id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.errors import OutboxStateError
from flask_dm_email.outbox import states
from flask_dm_email.outbox.tables import outbox

from .conftest import on_simulator

Apps = tuple[Flask, Flask]


@pytest.fixture
def two_apps(sim: Any, make_outbox_app: Callable[..., Flask]) -> Apps:
    """App A on the simulator's first service, app B on a second service (its own key and
    template), both with their outbox in the same database."""
    app_a = make_outbox_app()
    service_b = sim.add_service(name="Second app")["id"]
    template_b = sim.add_template(service_b, name="Welcome", subject="Hello ((name))", body="Dear ((name))")
    app_b = make_outbox_app(DM_NOTIFY_KEY=sim.create_api_key(service_b, key_type="test"),
                            DM_NOTIFY_TEMPLATES={"welcome": template_b})
    services = {app.extensions["dm_email"].outbox.store.service_id for app in (app_a, app_b)}
    assert len(services) == 2
    return app_a, app_b


def test_each_app_queues_its_own_email_for_the_same_dedupe_key(sim: Any, two_apps: Apps) -> None:
    app_a, app_b = two_apps
    with app_a.app_context():
        first_a = queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="k1")
    with app_b.app_context():
        first_b = queue_email("someone@gov.uk", "welcome", {"name": "B"}, dedupe_key="k1")
        assert first_b.id != first_a.id  # B's email was lost: B got A's row
        assert first_b.dedupe_key == "k1"  # the key as the app gave it
        again_b = queue_email("someone@gov.uk", "welcome", {"name": "B"}, dedupe_key="k1")
        assert again_b.id == first_b.id  # still queued once for B
        assert DMEmail.outbox.counts() == {states.QUEUED: 1}
        assert DMEmail.outbox.drain(timeout=10) == 1
        sent_b = DMEmail.outbox.get(first_b.id)
        assert sent_b is not None and sent_b.notify_id is not None
        assert [m["personalisation"] for m in on_simulator(sim, sent_b.notify_reference)] == [{"name": "B"}]
    with app_a.app_context():
        again_a = queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="k1")
        assert again_a.id == first_a.id
        assert DMEmail.outbox.counts() == {states.QUEUED: 1}  # A's own, untouched by B's worker


def test_each_app_has_its_own_batch_of_the_same_name(two_apps: Apps) -> None:
    app_a, app_b = two_apps
    rows = [{"email_address": f"person{n}@gov.uk", "name": f"P{n}"} for n in range(3)]
    with app_a.app_context():
        result_a = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news")
        assert (result_a.queued, result_a.already_queued) == (3, 0)
    with app_b.app_context():
        result_b = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news")
        assert (result_b.queued, result_b.already_queued) == (3, 0)  # every recipient gets B's campaign
        again = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news")
        assert (again.queued, again.already_queued) == (0, 3)  # a rerun adds nothing twice
        dry = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="news", dry_run=True)
        assert (dry.queued, dry.already_queued) == (0, 3)
        status_b = DMEmail.outbox.batch("news")
        assert status_b is not None and status_b.counts == {states.QUEUED: 3}
        b_ids = {email.id for email in DMEmail.outbox.find(batch="news")}
        assert len(b_ids) == 3
    with app_a.app_context():
        a_ids = {email.id for email in DMEmail.outbox.find(batch="news")}
        assert len(a_ids) == 3 and not a_ids & b_ids
        assert DMEmail.outbox.cancel_batch("news") == 3  # A's batch only
    with app_b.app_context():
        status_b = DMEmail.outbox.batch("news")
        assert status_b is not None and status_b.counts == {states.QUEUED: 3}


@pytest.mark.parametrize("action", ["get", "cancel", "retry"])
def test_an_app_cannot_get_cancel_or_retry_another_app_s_email(two_apps: Apps, action: str) -> None:
    app_a, app_b = two_apps
    with app_a.app_context():
        queued = queue_email("queued@gov.uk", "welcome", {"name": "A"})
        failed = queue_email("failed@gov.uk", "welcome", {"name": "A"})
        a_store = app_a.extensions["dm_email"].outbox.store
        with a_store.db.begin() as conn:  # as a worker leaves an email Notify refused
            conn.execute(update(outbox).where(outbox.c.id == failed.id)
                         .values(status=states.FAILED, final_at=a_store.db.now()))
    with app_b.app_context():
        b_store = app_b.extensions["dm_email"].outbox.store
        for email in (queued, failed):
            if action == "get":
                assert DMEmail.outbox.get(email.id) is None
                assert DMEmail.outbox.events(email.id) == []  # nor its timeline
                assert b_store.by_notify(None, email.notify_reference) is None  # nor a receipt at B's callback
            else:
                with pytest.raises(OutboxStateError, match=f"No email {email.id} in the outbox"):
                    getattr(DMEmail.outbox, action)(email.id)
        assert DMEmail.outbox.counts() == {}
    with app_a.app_context():
        still_queued, still_failed = DMEmail.outbox.get(queued.id), DMEmail.outbox.get(failed.id)
        assert still_queued is not None and still_queued.status == states.QUEUED
        assert still_failed is not None and still_failed.status == states.FAILED
        assert still_failed.notify_reference == failed.notify_reference  # not retried as a new generation
        assert [e["type"] for e in DMEmail.outbox.events(queued.id)] == ["queued"]  # nothing moved or ignored
        assert DMEmail.outbox.retry(failed.id).status == states.QUEUED  # its own app still can
        assert DMEmail.outbox.cancel(queued.id).status == states.CANCELLED
