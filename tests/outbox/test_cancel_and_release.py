"""Cancelling an email whose last attempt was unclear (Notify may have it), and releasing
emails held over the daily limit (on resume, or by ``outbox release-held``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.outbox import CancelledEmail, states
from flask_dm_email.outbox.holds import hold_until_midnight
from flask_dm_email.outbox.sync import sync_statuses
from flask_dm_email.outbox.tables import outbox
from flask_dm_email.testing import delivery_receipt

from .conftest import TIMEOUT, on_simulator
from .test_cli import flask, queue

CALLBACK_TOKEN = "a-callback-token-of-enough-length"
#: The unclear row is not due again during the test (so the worker's lookup does not settle it).
LATER = "60,60,60,60"
HEADERS = {"Authorization": f"Bearer {CALLBACK_TOKEN}"}


def store(app: Flask) -> Any:
    return app.extensions["dm_email"].outbox.store


def kinds(email_id: str) -> list[str]:
    return [e["type"] for e in DMEmail.outbox.events(email_id)]


def unclear_but_stored(app: Flask, sim: Any) -> Any:
    """An email Notify stored whose answer was lost: retrying-send-to-notify, maybe_sent."""
    sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 0.5, hang_when="after_store")
    queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
    DMEmail.outbox.drain()
    row = store(app).get(queued.id)
    assert row["status"] == states.RETRYING and row["maybe_sent"]
    return queued


class TestCancelWhileUnclear:
    def test_a_receipt_moves_a_cancelled_email_notify_had_to_its_status(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        app = make_outbox_app(DM_NOTIFY_CALLBACK_TOKEN=CALLBACK_TOKEN, DM_EMAIL_RETRY_SCHEDULE=LATER)
        with app.app_context():
            queued = unclear_but_stored(app, sim)
            cancelled = DMEmail.outbox.cancel(queued.id)
            assert isinstance(cancelled, CancelledEmail)
            assert cancelled.status == states.CANCELLED and cancelled.may_have_reached_notify
            DMEmail.outbox.drain()  # cancelled: never posted again
            [message] = on_simulator(sim, queued.notify_reference)
            receipt = delivery_receipt("someone@gov.uk", "delivered", id=message["id"],
                                       reference=queued.notify_reference)
            assert app.test_client().post("/callbacks/notify", json=receipt, headers=HEADERS).status_code == 200
            row = store(app).get(queued.id)
            events = kinds(queued.id)
        assert row["status"] == states.DELIVERED and row["notify_id"] == message["id"]
        assert "reached-notify-after-cancel" in events and "receipt-ignored" not in events
        assert len(on_simulator(sim, queued.notify_reference)) == 1

    def test_a_cancelled_email_that_never_was_unclear_ignores_a_receipt(
        self, make_outbox_app: Callable[..., Flask]
    ) -> None:
        app = make_outbox_app(DM_NOTIFY_CALLBACK_TOKEN=CALLBACK_TOKEN)
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            cancelled = DMEmail.outbox.cancel(queued.id)
            assert not cancelled.may_have_reached_notify
            receipt = delivery_receipt("someone@gov.uk", "delivered", reference=queued.notify_reference)
            app.test_client().post("/callbacks/notify", json=receipt, headers=HEADERS)
            assert store(app).get(queued.id)["status"] == states.CANCELLED
            assert "receipt-ignored" in kinds(queued.id)

    def test_the_status_sync_finds_a_cancelled_email_notify_had(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        app = make_outbox_app(DM_EMAIL_RETRY_SCHEDULE=LATER)
        with app.app_context():
            queued = unclear_but_stored(app, sim)
            DMEmail.outbox.cancel(queued.id)
            moved = sync_statuses(app)
            row = store(app).get(queued.id)
            events = kinds(queued.id)
        [message] = on_simulator(sim, queued.notify_reference)
        assert row["status"] in states.NOTIFY_OUTCOMES | {states.NOTIFY_CREATED, states.NOTIFY_SENDING}
        assert row["notify_id"] == message["id"] and sum(moved.values()) == 1
        assert "reached-notify-after-cancel" in events

    def test_the_status_sync_confirms_a_cancel_once_nothing_can_still_arrive(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        app = make_outbox_app()
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 0.5, hang_when="before_store")
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            DMEmail.outbox.drain()
            assert DMEmail.outbox.cancel(queued.id).may_have_reached_notify
            assert sync_statuses(app) == {}
            assert store(app).get(queued.id)["maybe_sent"]  # may still land: asked again later
            time.sleep(2.2)  # DM_NOTIFY_IN_FLIGHT_SECONDS=2 in these tests
            assert sync_statuses(app) == {}
            row = store(app).get(queued.id)
            events = kinds(queued.id)
        assert row["status"] == states.CANCELLED and not row["maybe_sent"]
        assert events.count("cancel-confirmed-not-sent") == 1
        assert on_simulator(sim, queued.notify_reference) == []


def test_the_cancel_command_says_the_email_may_have_reached_notify(env: dict[str, str]) -> None:
    email_id, plain = queue(env, 2)
    from .crash_app import create_app

    app = create_app()
    with app.app_context(), store(app).db.begin() as conn:
        # As a worker leaves an unclear attempt (a timeout): retrying, maybe sent, due later.
        conn.execute(update(outbox).where(outbox.c.id == email_id).values(
            status=states.RETRYING, maybe_sent=True, attempts=1, next_attempt_at=outbox.c.next_attempt_at + 3600))
    app.extensions["dm_email"].outbox.database.engine.dispose()
    out = flask(env, "outbox", "cancel", email_id)
    assert out.stdout.startswith(f"{email_id}: cancelled\n"), (out.stdout, out.stderr)
    assert "may already have reached Notify" in out.stdout
    assert flask(env, "outbox", "cancel", plain).stdout.strip() == f"{plain}: cancelled"


def held(app: Flask, count: int) -> list[str]:
    ids = [queue_email(f"p{n}@gov.uk", "welcome", {"name": "A"}).id for n in range(count)]
    held_count, _, _ = hold_until_midnight(store(app))
    assert held_count == count
    return ids


class TestReleasingHeldEmails:
    def test_resume_releases_held_emails(self, make_outbox_app: Callable[..., Flask], sim: Any) -> None:
        app = make_outbox_app()
        with app.app_context():
            DMEmail.outbox.pause()
            ids = held(app, 2)
            assert DMEmail.outbox.resume() == 2
            assert {store(app).get(i)["status"] for i in ids} == {states.QUEUED}
            assert all("released" in kinds(i) for i in ids)
            assert DMEmail.outbox.drain() == 2
            assert {store(app).get(i)["status"] for i in ids} == {states.SENT}

    def test_release_held_without_a_pause(self, make_outbox_app: Callable[..., Flask]) -> None:
        app = make_outbox_app()
        with app.app_context():
            ids = held(app, 3)
            assert DMEmail.outbox.drain() == 0  # held until midnight
            assert DMEmail.outbox.release_held() == 3
            assert DMEmail.outbox.release_held() == 0
            assert DMEmail.outbox.drain() == 3
            assert {store(app).get(i)["status"] for i in ids} == {states.SENT}


def test_the_release_held_command(env: dict[str, str]) -> None:

    ids = queue(env, 2)
    none = flask(env, "outbox", "release-held")
    assert none.stdout.strip() == "No email is held.", (none.stdout, none.stderr)
    from .crash_app import create_app

    app = create_app()
    with app.app_context():
        hold_until_midnight(store(app))
    app.extensions["dm_email"].outbox.database.engine.dispose()
    out = flask(env, "outbox", "release-held")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Released 2 held email(s)") and "send again" in out.stdout, out.stdout
    resumed = flask(env, "outbox", "status", "--json").stdout
    assert '"queued": 2' in resumed, (resumed, ids)


def test_a_batch_cancel_counts_the_emails_that_may_have_reached_notify(
    make_outbox_app: Callable[..., Flask],
) -> None:
    import pickle

    app = make_outbox_app()
    with app.app_context():
        result = DMEmail.outbox.enqueue_many([{"email_address": f"p{n}@gov.uk", "name": "A"} for n in range(3)],
                                             template="welcome", batch="news")
        assert result.queued == 3
        [unclear, *_] = [email.id for email in DMEmail.outbox.find(batch="news")]
        with store(app).db.begin() as conn:  # as a worker leaves an unclear attempt (a timeout)
            conn.execute(update(outbox).where(outbox.c.id == unclear).values(
                status=states.RETRYING, maybe_sent=True, attempts=1))
        cancelled = DMEmail.outbox.cancel_batch("news")
    assert cancelled == 3 and cancelled.may_have_reached_notify == 1
    again = pickle.loads(pickle.dumps(cancelled))  # noqa: S301 - our own object
    assert (again, again.may_have_reached_notify) == (3, 1)


def test_the_status_sync_moves_the_cancelled_row_not_another_with_its_reference(
    make_outbox_app: Callable[..., Flask], sim: Any,
) -> None:
    """Synchronous sends keep the caller's reference, which may repeat: Ada's sent row and
    Bo's cancelled unclear one share ``pw-reset``. The sync finds Bo's notification and
    moves Bo's row; Ada's keeps its own notification."""
    from flask_dm_email import send_email
    from flask_dm_email.backends import OutgoingEmail
    from flask_dm_email.state import get_state

    app = make_outbox_app()
    with app.app_context():
        state = get_state(app)
        ada = send_email("ada@gov.uk", "welcome", {"name": "Ada"}, reference="pw-reset")
        [ada_row] = store(app).find(reference="pw-reset")
        bo = queue_email("bo@gov.uk", "welcome", {"name": "Bo"})
        bo_email = OutgoingEmail(to="bo@gov.uk", template_id=ada.template_id, reference="pw-reset", to_hash="x",
                                 personalisation={"name": "Bo"})
        bo_notification = state.backend.post(bo_email).response  # Notify has Bo's email; its answer was lost
        with store(app).db.begin() as conn:  # ... and an operator cancelled the unclear row
            conn.execute(update(outbox).where(outbox.c.id == bo.id).values(
                notify_reference="pw-reset", reference="pw-reset", status=states.CANCELLED, maybe_sent=True,
                settles_at=0.0, updated_at=0.0))
        sync_statuses(app)
        ada_after, bo_after = store(app).get(ada_row["id"]), store(app).get(bo.id)
        ada_events = [event["type"] for event in store(app).events_of(ada_row["id"])]
    assert bo_after["status"] != states.CANCELLED and bo_after["notify_id"] == bo_notification["id"]
    assert ada_after["notify_id"] == ada.id  # (its status follows its own notification)
    assert "reached-notify-after-cancel" not in ada_events


def test_a_release_made_while_a_refused_worker_is_about_to_hold_is_not_undone(
    make_outbox_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """This worker had Notify's daily-limit refusal earlier today. It looks for a release,
    finds none, and the operator releases the held emails at that moment: its hold must
    not put them back until 00:00 UTC."""
    from flask_dm_email.outbox.delivery import Delivery
    from flask_dm_email.outbox.holds import next_midnight, release_held
    from flask_dm_email.state import get_state

    app = make_outbox_app()
    with app.app_context():
        state = get_state(app)
        pacer = state.pacer
        pacer.refused_at = time.time() - 60  # Notify's 429 TooManyRequestsError, a minute ago
        pacer._refused_until = next_midnight(time.time())
        ids = held(app, 3)
        late = queue_email("late@gov.uk", "welcome", {"name": "L"})
        [row] = store(app).claim(5, 60)
        assert row["id"] == late.id
        real_released_at = pacer.released_at
        assert real_released_at is not None

        def then_the_operator_releases() -> float | None:
            seen = real_released_at()
            release_held(store(app))  # Notify raised the limit; the operator releases, just now
            return seen

        monkeypatch.setattr(pacer, "released_at", then_the_operator_releases)
        Delivery(app, state, store(app), claimed_at=time.monotonic()).deliver(row)
        statuses = {store(app).get(row_id)["status"] for row_id in [*ids, late.id]}
    assert states.HELD not in statuses
    assert not pacer.refused  # and the worker sends again


def test_a_cancelled_email_moved_on_by_a_receipt_is_no_longer_final(
    make_outbox_app: Callable[..., Flask],
) -> None:
    """Notify had it after all and says it is still sending: the row is not final, so the
    retention purge must not clear its address as if it were."""
    from flask_dm_email.outbox.receipts import apply_notify_status

    app = make_outbox_app()
    with app.app_context():
        email = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
        with store(app).db.begin() as conn:  # as a worker leaves an unclear attempt (a timeout)
            conn.execute(update(outbox).where(outbox.c.id == email.id).values(
                status=states.RETRYING, maybe_sent=True, attempts=1))
        DMEmail.outbox.cancel(email.id)
        assert store(app).get(email.id)["final_at"] is not None
        moved = apply_notify_status(app, store(app), notify_id=None, reference=email.notify_reference,
                                    status="sending", kind="receipt")
        row = store(app).get(email.id)
    assert moved == states.NOTIFY_SENDING and row["final_at"] is None
