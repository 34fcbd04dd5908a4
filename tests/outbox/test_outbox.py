"""The outbox on SQLite and PostgreSQL, delivering to the simulator over real HTTP:
queueing, draining, receipts, retries, unclear attempts, operator actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_dm_email import (
    DMEmail,
    EmailConfigError,
    EmailInvalidError,
    EmailTemplateError,
    OutboxStateError,
    RecipientNotAllowedError,
    queue_email,
)
from flask_dm_email.helpers import hash_string
from flask_dm_email.outbox import states
from flask_dm_email.signals import email_failed, email_queued, email_status_changed, outbox_alert
from flask_dm_email.testing import delivery_receipt

from .conftest import SAFE, TIMEOUT, on_simulator


def outbox(app: Flask) -> Any:
    return app.extensions["dm_email"].outbox.store


class TestQueueing:
    def test_a_queued_email_is_a_row_and_nothing_is_sent_yet(self, make_outbox_app: Callable[..., Flask],
                                                             sim: Any) -> None:
        app = make_outbox_app()
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "Ada"}, link=("user", 7))
            assert queued.status == states.QUEUED
            assert queued.to_hash == hash_string("someone@gov.uk")
            assert queued.notify_reference == f"{queued.reference}-{queued.id}"
            assert queued.link == ("user", "7")
            assert DMEmail.outbox.counts() == {states.QUEUED: 1}
            assert [e.id for e in DMEmail.outbox.find(link=("user", 7))] == [queued.id]
        assert sim.messages() == []

    def test_bad_input_fails_in_the_request_and_queues_nothing(self, make_outbox_app: Callable[..., Flask]) -> None:
        app = make_outbox_app(DM_NOTIFY_ALLOWED_RECIPIENTS="@gov.uk")
        with app.app_context():
            with pytest.raises(EmailInvalidError):
                queue_email("not an address", "welcome")
            with pytest.raises(RecipientNotAllowedError):
                queue_email("someone@elsewhere.org", "welcome")
            with pytest.raises(EmailTemplateError, match="DM_NOTIFY_TEMPLATES"):
                queue_email("someone@gov.uk", "no-such-template")
            with pytest.raises(EmailTemplateError, match="personalisation 'name'"):  # not JSON: no row
                queue_email("someone@gov.uk", "welcome", {"name": float("inf")})
            assert DMEmail.outbox.counts() == {}

    def test_the_redirect_is_applied_at_enqueue(self, make_outbox_app: Callable[..., Flask], sim: Any) -> None:
        app = make_outbox_app()
        with app.app_context():
            queued = queue_email("tester@example.com", "welcome", {"name": "T"})
            assert queued.redirected and queued.to_hash == hash_string("tester@example.com")
            DMEmail.outbox.drain()
        [message] = on_simulator(sim, queued.notify_reference)
        assert message["email_address"] == SAFE

    def test_a_dedupe_key_queues_once(self, make_outbox_app: Callable[..., Flask]) -> None:
        app = make_outbox_app()
        seen: list[Any] = []
        with app.app_context(), email_queued.connected_to(lambda sender, email: seen.append(email), app):
            first = queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="welcome:42")
            second = queue_email("someone@gov.uk", "welcome", {"name": "A"}, dedupe_key="welcome:42")
            assert second.id == first.id
            assert DMEmail.outbox.counts() == {states.QUEUED: 1}
        assert [e.id for e in seen] == [first.id]

    def test_a_reference_too_long_for_the_suffix_is_refused(self, make_outbox_app: Callable[..., Flask]) -> None:
        with make_outbox_app().app_context(), pytest.raises(Exception, match="at most 950 characters"):
            queue_email("someone@gov.uk", "welcome", reference="r" * 951)


def test_live_stages_without_an_outbox_say_which_key_to_set(make_app: Callable[..., Flask]) -> None:
    from ..conftest import KEY, TOKEN

    app = make_app(DM_ENVIRONMENT="staging", DM_NOTIFY_KEY=KEY, DM_NOTIFY_CALLBACK_TOKEN=TOKEN,
                   DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={}, DM_EMAIL_LIMITER_URL="memory",
                   DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE})
    with app.app_context(), pytest.raises(EmailConfigError) as info:
        queue_email("someone@gov.uk", "welcome")
    assert info.value.problems[0][0] == "DM_EMAIL_OUTBOX_URL"
    assert "staging" in str(info.value)


TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


class TestDelivery:
    def test_drain_sends_each_row_once_and_clears_its_personalisation(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        app = make_outbox_app()
        with app.app_context():
            queued = [queue_email(f"person{n}@gov.uk", "welcome", {"name": str(n)}) for n in range(6)]
            assert DMEmail.outbox.drain() == 6
            for email in queued:
                row = outbox(app).get(email.id)
                assert row["status"] == states.SENT
                assert row["personalisation"] is None
                [message] = on_simulator(sim, email.notify_reference)
                assert message["id"] == row["notify_id"]
            assert DMEmail.outbox.drain() == 0

    def test_transactional_rows_are_claimed_before_bulk_ones(self, make_outbox_app: Callable[..., Flask]) -> None:
        app = make_outbox_app()
        with app.app_context():
            for n in range(30):
                queue_email(f"bulk{n}@gov.uk", "welcome", {"name": "B"}, priority="bulk")
            urgent = queue_email("reset@gov.uk", "welcome", {"name": "R"})
            claimed = outbox(app).claim(4, 60)
            assert claimed[0]["id"] == urgent.id

    def test_a_4xx_fails_the_row_with_the_error_class(self, make_outbox_app: Callable[..., Flask]) -> None:
        app = make_outbox_app()
        failures: list[Any] = []
        with app.app_context(), email_failed.connected_to(lambda sender, **kw: failures.append(kw), app):
            queued = queue_email("someone@gov.uk", "welcome")  # ((name)) is missing
            DMEmail.outbox.drain()
            row = outbox(app).get(queued.id)
        assert row["status"] == states.FAILED
        assert row["last_error_class"] == "BadRequestError" and row["last_status_code"] == 400
        assert len(failures) == 1 and failures[0]["email"].to_hash == queued.to_hash

    def test_notifys_own_5xx_is_retried_after_a_lookup(self, make_outbox_app: Callable[..., Flask], sim: Any) -> None:
        app = make_outbox_app()
        sim.set_faults(error_next=2)
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            for _ in range(4):
                DMEmail.outbox.drain()
            assert outbox(app).get(queued.id)["status"] == states.SENT
        assert len(on_simulator(sim, queued.notify_reference)) == 1

    def test_a_5xx_after_storing_is_found_not_resent(self, make_outbox_app: Callable[..., Flask], sim: Any) -> None:
        app = make_outbox_app()
        sim.set_faults(error_next=1, error_when="after_store")
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            for _ in range(3):
                DMEmail.outbox.drain()
            row = outbox(app).get(queued.id)
        [message] = on_simulator(sim, queued.notify_reference)
        assert row["status"] == states.SENT and row["notify_id"] == message["id"]

    def test_an_unclear_attempt_notify_stored_and_then_failed_is_never_posted_again(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        """Notify stored the email and its answer was lost (a timeout); the email then
        failed there (a temporary failure). The lookup finds a failed notification: it is
        this email's, so posting again would make a second notification."""
        import time

        app = make_outbox_app()
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 0.5, hang_when="after_store")
        with app.app_context():
            queued = queue_email("temp-fail@simulator.notify", "welcome", {"name": "A"})
            DMEmail.outbox.drain()
            deadline = time.monotonic() + 10
            while [m.get("status") for m in on_simulator(sim, queued.notify_reference)] != ["temporary-failure"]:
                assert time.monotonic() < deadline, "the simulator never failed the email"
                time.sleep(0.05)
            time.sleep(2.2)  # DM_NOTIFY_IN_FLIGHT_SECONDS=2 in these tests: settled
            for _ in range(3):
                DMEmail.outbox.drain()
            row = outbox(app).get(queued.id)
            kinds = [e["type"] for e in DMEmail.outbox.events(queued.id)]
        [message] = on_simulator(sim, queued.notify_reference)  # never posted again
        assert row["status"] == states.SENT and row["notify_id"] == message["id"]
        assert "maybe-sent" in kinds and "found-by-lookup" in kinds

    def test_a_timeout_is_not_resent_until_it_settles_then_once(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        import time

        app = make_outbox_app()
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 0.5, hang_when="before_store")
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            DMEmail.outbox.drain()
            row = outbox(app).get(queued.id)
            assert row["status"] == states.RETRYING and row["maybe_sent"]
            DMEmail.outbox.drain()  # looked up, not settled yet: not resent
            assert on_simulator(sim, queued.notify_reference) == []
            assert outbox(app).get(queued.id)["status"] == states.RETRYING
            time.sleep(2.2)  # DM_NOTIFY_IN_FLIGHT_SECONDS=2 in these tests
            DMEmail.outbox.drain()
            assert outbox(app).get(queued.id)["status"] == states.SENT
            kinds = [e["type"] for e in DMEmail.outbox.events(queued.id)]
        assert len(on_simulator(sim, queued.notify_reference)) == 1
        assert "maybe-sent" in kinds and "not-yet-settled" in kinds

    def test_a_lost_response_is_found_by_the_lookup(self, make_outbox_app: Callable[..., Flask], sim: Any) -> None:
        app = make_outbox_app()
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 0.5, hang_when="after_store")
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            DMEmail.outbox.drain()
            DMEmail.outbox.drain()
            assert outbox(app).get(queued.id)["status"] == states.SENT
            assert "found-by-lookup" in [e["type"] for e in DMEmail.outbox.events(queued.id)]
        assert len(on_simulator(sim, queued.notify_reference)) == 1

    def test_a_revoked_key_pauses_the_outbox_instead_of_failing_every_row(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        service = sim.add_service(name="Other")
        wrong_key = sim.create_api_key(service_id=service["id"], key_type="test")
        app = make_outbox_app(DM_NOTIFY_KEY=wrong_key[:-36] + "3d844edf-8d35-48ac-975b-e847b4f122b0")
        alerts: list[dict[str, Any]] = []
        with app.app_context(), outbox_alert.connected_to(lambda sender, **kw: alerts.append(kw), app):
            rows = [queue_email(f"p{n}@gov.uk", "welcome", {"name": "A"}) for n in range(3)]
            DMEmail.outbox.drain()
            assert DMEmail.outbox.paused
            statuses = {outbox(app).get(r.id)["status"] for r in rows}
            assert states.FAILED not in statuses
            assert DMEmail.outbox.drain() == 0  # paused: nothing is claimed
        paused = {"status_code": 403, "error_class": "AuthError", "suppressed": 0}
        assert alerts == [{"kind": "paused", "details": paused}]

    def test_a_service_that_may_not_send_emails_pauses_the_outbox_instead_of_failing_every_row(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        service = sim.add_service(name="Letters only", permissions=["letter"])
        app = make_outbox_app(DM_NOTIFY_KEY=sim.create_api_key(service_id=service["id"], key_type="test"))
        alerts: list[dict[str, Any]] = []
        with app.app_context(), outbox_alert.connected_to(lambda sender, **kw: alerts.append(kw), app):
            rows = [queue_email(f"p{n}@gov.uk", "welcome", {"name": "A"}) for n in range(3)]
            DMEmail.outbox.drain()
            assert DMEmail.outbox.paused
            assert {outbox(app).get(r.id)["status"] for r in rows} == {states.QUEUED}
        assert [alert["kind"] for alert in alerts] == ["paused"]
        assert alerts[0]["details"]["status_code"] == 400


class TestReceipts:
    def test_receipts_move_rows_forward_only(self, make_outbox_app: Callable[..., Flask], sim: Any) -> None:
        app = make_outbox_app(DM_NOTIFY_CALLBACK_TOKEN="a-callback-token-of-enough-length")
        client = app.test_client()
        headers = {"Authorization": "Bearer a-callback-token-of-enough-length"}
        changes: list[tuple[str, str]] = []
        with app.app_context(), email_status_changed.connected_to(
            lambda sender, email, old, new: changes.append((old, new)), app
        ):
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            DMEmail.outbox.drain()
            row = outbox(app).get(queued.id)
            receipt = delivery_receipt("someone@gov.uk", "delivered", id=row["notify_id"],
                                       reference=queued.notify_reference)
            assert client.post("/callbacks/notify", json=receipt, headers=headers).status_code == 200
            assert client.post("/callbacks/notify", json=receipt, headers=headers).status_code == 200
            late = delivery_receipt("someone@gov.uk", "temporary-failure", id=row["notify_id"],
                                    reference=queued.notify_reference)
            assert client.post("/callbacks/notify", json=late, headers=headers).status_code == 200
            assert outbox(app).get(queued.id)["status"] == states.DELIVERED
            kinds = [e["type"] for e in DMEmail.outbox.events(queued.id)]
        assert kinds.count("receipt") == 1 and kinds.count("receipt-ignored") == 2
        assert changes[-1] == (states.SENT, states.DELIVERED)

    def test_a_receipt_before_the_worker_records_its_send_still_lands(
        self, make_outbox_app: Callable[..., Flask]
    ) -> None:
        app = make_outbox_app()
        with app.app_context():
            queued = queue_email("someone@gov.uk", "welcome", {"name": "A"})
            [claimed] = outbox(app).claim(1, 60)
            receipt = delivery_receipt("someone@gov.uk", "delivered", reference=queued.notify_reference)
            app.test_client().post("/callbacks/notify", json=receipt)
            assert outbox(app).get(queued.id)["status"] == states.DELIVERED
            # The worker's record of the send comes later and moves nothing back.
            assert not outbox(app).finish(claimed["id"], claimed["claim_token"], states.SENT, kind="sent")
            assert outbox(app).get(queued.id)["status"] == states.DELIVERED


class TestOperatorActions:
    def test_cancel_retry_pause_resume(self, make_outbox_app: Callable[..., Flask], sim: Any) -> None:
        app = make_outbox_app()
        with app.app_context():
            cancelled = queue_email("a@gov.uk", "welcome", {"name": "A"})
            assert DMEmail.outbox.cancel(cancelled.id).status == states.CANCELLED
            with pytest.raises(OutboxStateError, match="is cancelled"):
                DMEmail.outbox.cancel(cancelled.id)
            failed = queue_email("b@gov.uk", "welcome")  # missing personalisation: 400
            DMEmail.outbox.drain()
            assert DMEmail.outbox.get(failed.id).status == states.FAILED  # type: ignore[union-attr]
            with pytest.raises(OutboxStateError):
                DMEmail.outbox.retry(cancelled.id)
            retried = DMEmail.outbox.retry(failed.id)
            assert retried.status == states.QUEUED
            assert retried.notify_reference == f"{failed.reference}-{failed.id}-2"
            DMEmail.outbox.pause()
            assert DMEmail.outbox.drain() == 0
            DMEmail.outbox.resume()
            assert DMEmail.outbox.drain() == 1

    def test_a_retried_failure_is_sent_with_its_personalisation(
        self, make_outbox_app: Callable[..., Flask], sim: Any, template_id: str
    ) -> None:
        app = make_outbox_app()
        with app.app_context():
            sim.update_template(template_id, archived=True)  # Notify: 400 "Template has been deleted"
            failed = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
            DMEmail.outbox.drain()
            assert DMEmail.outbox.get(failed.id).status == states.FAILED  # type: ignore[union-attr]
            sim.update_template(template_id, archived=False)  # the team puts the template back
            retried = DMEmail.outbox.retry(failed.id)
            assert DMEmail.outbox.drain() == 1
            [message] = sim.messages(reference=retried.notify_reference)
            assert "Dear Ada," in message["body"]
            assert outbox(app).get(failed.id)["personalisation"] is None  # cleared once with Notify

    def test_a_failure_whose_address_was_purged_cannot_be_retried(
        self, make_outbox_app: Callable[..., Flask], sim: Any, template_id: str
    ) -> None:
        app = make_outbox_app(DM_EMAIL_RETENTION_DAYS=0)
        with app.app_context():
            sim.update_template(template_id, archived=True)
            failed = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
            DMEmail.outbox.drain()
            assert DMEmail.outbox.purge() == 1
            with pytest.raises(OutboxStateError, match=r"purged .* queue a new email instead"):
                DMEmail.outbox.retry(failed.id)
            assert DMEmail.outbox.get(failed.id).status == states.FAILED  # type: ignore[union-attr]

    def test_a_queued_row_whose_address_was_purged_fails_without_a_send(
        self, make_outbox_app: Callable[..., Flask], sim: Any
    ) -> None:
        from sqlalchemy import update

        from flask_dm_email.outbox.tables import outbox as table

        app = make_outbox_app()
        with app.app_context():
            queued = queue_email("ada@gov.uk", "welcome", {"name": "Ada"})
            with outbox(app).db.begin() as conn:  # a purge that raced an operator's retry
                conn.execute(update(table).where(table.c.id == queued.id).values(to_address=None))
            DMEmail.outbox.drain()
            row = outbox(app).get(queued.id)
            assert (row["status"], row["last_error_class"]) == (states.FAILED, "AddressPurged")
        assert sim.messages() == []

    def test_an_email_being_sent_cannot_be_cancelled(self, make_outbox_app: Callable[..., Flask]) -> None:
        app = make_outbox_app()
        with app.app_context():
            queued = queue_email("a@gov.uk", "welcome", {"name": "A"})
            outbox(app).claim(1, 60)
            with pytest.raises(OutboxStateError, match="try again in a moment"):
                DMEmail.outbox.cancel(queued.id)

    def test_a_worker_that_lost_its_lease_changes_nothing(self, make_outbox_app: Callable[..., Flask]) -> None:
        from sqlalchemy import update

        from flask_dm_email.outbox.tables import outbox as table

        app = make_outbox_app()
        with app.app_context():
            queued = queue_email("a@gov.uk", "welcome", {"name": "A"})
            store = outbox(app)
            [first] = store.claim(1, 60)
            with store.db.begin() as conn:  # the lease runs out (the worker stalled)
                conn.execute(update(table).where(table.c.id == queued.id).values(lease_expires_at=0))
            [second] = store.claim(1, 60)
            assert second["maybe_sent"] and second["claim_token"] != first["claim_token"]
            assert not store.finish(first["id"], first["claim_token"], states.FAILED, kind="failed")
            assert store.finish(second["id"], second["claim_token"], states.SENT, kind="sent")

    def test_purge_clears_personal_data_after_retention(self, make_outbox_app: Callable[..., Flask]) -> None:
        app = make_outbox_app(DM_EMAIL_RETENTION_DAYS=0)
        with app.app_context():
            queued = queue_email("a@gov.uk", "welcome", {"name": "A"})
            DMEmail.outbox.cancel(queued.id)
            assert DMEmail.outbox.purge() == 1
            row = outbox(app).get(queued.id)
            assert row["to_address"] is None and row["to_hash"] == queued.to_hash
