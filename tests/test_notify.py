"""Sending through GOV.UK Notify, over real HTTP, against the local simulator:
retries, lost responses, de-duplication, error mapping and concurrency."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from notifications_python_client import prepare_upload

from flask_dm_email import (
    EmailAuthError,
    EmailInvalidError,
    EmailOutcomeUnknownError,
    EmailRateLimitError,
    EmailRequestError,
    EmailTemplateError,
    EmailUnavailableError,
    RecipientNotAllowedError,
    send_email,
)
from flask_dm_email.helpers import hash_string
from flask_dm_email.notify import NotifyBackend
from flask_dm_email.retry import IN_FLIGHT_BOUND
from flask_dm_email.state import get_state

from .holding_proxy import HoldingProxy

SAFE = "success@simulator.amazonses.com"
TIMEOUT = 0.5


@pytest.fixture
def notify_app(make_app: Callable[..., Flask], sim: Any, template_id: str) -> Callable[..., Flask]:
    """An app sending through the simulator with a test key; overrides as keyword args."""

    def build(key_type: str = "test", **overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "DM_ENVIRONMENT": "test",
            "DM_EMAIL_BACKEND": "notify",
            "DM_NOTIFY_KEY": sim.create_api_key(key_type=key_type),
            "DM_NOTIFY_BASE_URL": sim.url,
            "DM_NOTIFY_TEMPLATES": {"welcome": template_id},
            "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {"example.com": SAFE},
            "DM_NOTIFY_TIMEOUT": TIMEOUT,
            "DM_NOTIFY_MAX_ATTEMPTS": 4,
            "DM_NOTIFY_RETRY_BACKOFF": 0.01,
            "DM_NOTIFY_RETRY_MAX_BACKOFF": 0.05,
            "DM_NOTIFY_RETRY_DEADLINE": 10,
        }
        config.update(overrides)
        return make_app(**config)

    return build


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.slept = 0.0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(seconds, 1.0)  # at least 1 s a wait, so the bound is reached quickly
        self.slept += max(seconds, 1.0)


def on_a_fake_clock(app: Flask, sim: Any) -> FakeClock:
    """Give ``app`` a Notify backend whose waits cost no time; the clock it runs on."""
    fake = FakeClock()
    state = get_state(app)
    state.backend = NotifyBackend(
        state.settings.notify_key or "", sim.url, state.settings.retry, sleep=fake.sleep, clock=fake.now
    )
    return fake


def stored(sim: Any, reference: str) -> list[dict[str, Any]]:
    return [m for m in sim.messages() if m.get("reference") == reference]


class TestSend:
    def test_the_simulator_stores_what_was_sent(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        with notify_app().app_context():
            result = send_email("Person@gov.uk", "welcome", {"name": "Alex"})
        assert result.backend == "notify"
        [message] = stored(sim, result.reference)
        assert message["id"] == result.id
        assert message["email_address"] == "Person@gov.uk"
        assert message["subject"] == "Hello Alex"
        assert result.response["content"]["subject"] == "Hello Alex"
        sim.wait_for_status(result.id, "delivered")

    def test_redirected_recipients_reach_notify_as_the_safe_address(
        self, notify_app: Callable[..., Flask], sim: Any
    ) -> None:
        with notify_app().app_context():
            result = send_email("tester@EXAMPLE.com", "welcome", {"name": "Alex"})
        [message] = stored(sim, result.reference)
        assert message["email_address"] == SAFE
        assert result.redirected

    def test_files_are_passed_through(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        service = sim.add_service(name="Files", contact_link="https://example.gov.uk/contact", restricted=False)
        key = sim.create_api_key(service_id=service["id"], key_type="test")
        file_template = sim.add_template(
            service_id=service["id"], name="File", subject="Your file", body="Get ((link))"
        )
        upload = prepare_upload(io.BytesIO(b"a,b\n1,2\n"), filename="report.csv")
        with notify_app(DM_NOTIFY_KEY=key).app_context():
            result = send_email("person@gov.uk", file_template, {"link": upload})
        [message] = stored(sim, result.reference)
        assert "/_simulator/documents/" in message["body"]
        assert upload["file"] not in message["body"]

    def test_files_need_the_services_contact_link(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        file_template = sim.add_template(name="File", subject="Your file", body="Get ((link))")
        upload = prepare_upload(io.BytesIO(b"a,b\n1,2\n"), filename="report.csv")
        with notify_app().app_context(), pytest.raises(EmailRequestError, match="Send files by email has not"):
            send_email("person@gov.uk", file_template, {"link": upload})

    def test_allow_resend_false_asks_notify_first(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        app = notify_app()
        with app.app_context():
            first = send_email("person@gov.uk", "welcome", {"name": "A"}, allow_resend=False)
            again = send_email("person@gov.uk", "welcome", {"name": "A"}, allow_resend=False)
            resend = send_email("person@gov.uk", "welcome", {"name": "A"})
        assert again.already_sent and again.id == first.id
        assert not resend.already_sent
        assert len(stored(sim, first.reference)) == 2

    def test_allow_resend_false_resends_after_a_temporary_failure(
        self, notify_app: Callable[..., Flask], sim: Any
    ) -> None:
        with notify_app().app_context():
            first = send_email("temp-fail@simulator.notify", "welcome", {"name": "A"})
            sim.wait_for_status(first.id, "temporary-failure")
            second = send_email("temp-fail@simulator.notify", "welcome", {"name": "A"}, allow_resend=False)
        assert not second.already_sent
        assert second.id != first.id


class TestErrors:
    def test_missing_personalisation(self, notify_app: Callable[..., Flask]) -> None:
        with notify_app().app_context(), pytest.raises(EmailTemplateError) as info:
            send_email("person@gov.uk", "welcome")
        assert "Missing personalisation: name" in str(info.value)
        assert info.value.status_code == 400
        assert info.value.notify_errors == [{"error": "BadRequestError", "message": "Missing personalisation: name"}]

    def test_unknown_template_id(self, notify_app: Callable[..., Flask]) -> None:
        with notify_app().app_context(), pytest.raises(EmailTemplateError, match="Template not found"):
            send_email("person@gov.uk", "00000000-0000-4000-8000-000000000000")

    def test_team_key_refusal_says_to_use_the_guest_list(self, notify_app: Callable[..., Flask]) -> None:
        with notify_app(key_type="team").app_context(), pytest.raises(RecipientNotAllowedError) as info:
            send_email("stranger@gov.uk", "welcome", {"name": "A"})
        assert "Can’t send to this recipient using a team-only API key" in str(info.value)
        assert "team or guest list" in str(info.value)
        assert "stranger" not in str(info.value)

    def test_a_wrong_key_names_the_key_but_not_its_secret(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        real = sim.create_api_key(key_type="test")
        wrong = real[:-36] + "00000000-0000-4000-8000-000000000000"
        with notify_app(DM_NOTIFY_KEY=wrong).app_context(), pytest.raises(EmailAuthError) as info:
            send_email("person@gov.uk", "welcome", {"name": "A"})
        assert "Invalid token: API key not found" in str(info.value)
        assert wrong[-36:] not in str(info.value)
        assert info.value.status_code == 403

    def test_an_invalid_address_never_reaches_notify(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        with notify_app().app_context(), pytest.raises(EmailInvalidError):
            send_email("person@gov", "welcome", {"name": "A"})
        assert sim.messages() == []

    def test_the_daily_limit_is_not_retried(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        service = sim.add_service(name="Tiny", email_message_limit=1, restricted=False)
        key = sim.create_api_key(service_id=service["id"], key_type="normal")
        template = sim.add_template(service_id=service["id"], name="T", subject="S", body="B")
        app = notify_app(DM_NOTIFY_KEY=key, DM_NOTIFY_TEMPLATES={"welcome": template})
        with app.app_context():
            send_email("a@gov.uk", "welcome")
            with pytest.raises(EmailRateLimitError, match=r"Exceeded send limits \(email: 1\) for today"):
                send_email("b@gov.uk", "welcome")

    def test_connection_refused_is_unavailable_and_says_nothing_was_sent(
        self, notify_app: Callable[..., Flask]
    ) -> None:
        app = notify_app(DM_NOTIFY_BASE_URL="http://127.0.0.1:9", DM_NOTIFY_MAX_ATTEMPTS=2)
        with app.app_context(), pytest.raises(EmailUnavailableError) as info:
            send_email("a@gov.uk", "welcome", {"name": "A"})
        assert not isinstance(info.value, EmailOutcomeUnknownError)
        assert "nothing was sent" in str(info.value)


class TestRetries:
    def test_5xx_is_retried_and_stored_once(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        sim.set_faults(error_next=1, unavailable_next=1)
        with notify_app().app_context():
            result = send_email("a@gov.uk", "welcome", {"name": "A"})
        assert [m["id"] for m in stored(sim, result.reference)] == [result.id]

    def test_429_is_retried(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        sim.set_faults(force_429=2)
        with notify_app().app_context():
            result = send_email("a@gov.uk", "welcome", {"name": "A"})
        assert len(stored(sim, result.reference)) == 1

    def test_persistent_429_gives_a_rate_limit_error(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        sim.set_faults(force_429="always")
        with notify_app().app_context(), pytest.raises(EmailRateLimitError, match="Exceeded rate limit"):
            send_email("a@gov.uk", "welcome", {"name": "A"})

    def test_a_lost_response_is_found_by_reference_not_resent(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 1, hang_when="after_store")
        with notify_app().app_context():
            result = send_email("a@gov.uk", "welcome", {"name": "A"})
        [message] = stored(sim, result.reference)
        assert message["id"] == result.id

    def test_a_timed_out_request_is_not_resent_while_it_may_still_arrive(
        self, notify_app: Callable[..., Flask], sim: Any
    ) -> None:
        # The request reached Notify and timed out before storing: from outside, that looks
        # exactly like a request still on its way. Within the 10 s deadline nothing can prove
        # it will not arrive, so nothing is sent again.
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 1, hang_when="before_store")
        with notify_app(DM_NOTIFY_RETRY_DEADLINE=2).app_context(), pytest.raises(EmailOutcomeUnknownError) as info:
            send_email("a@gov.uk", "welcome", {"name": "A"})
        assert "not sent again" in str(info.value)
        assert stored(sim, info.value.reference) == []

    def test_once_it_can_no_longer_arrive_it_is_sent_again_exactly_once(
        self, notify_app: Callable[..., Flask], sim: Any
    ) -> None:
        # A fake clock jumps past the 75 s bound while the backend "sleeps"; the lookup made
        # after it finds nothing, so the resend is safe.
        app = notify_app(DM_NOTIFY_RETRY_DEADLINE=120)
        fake = on_a_fake_clock(app, sim)
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 1, hang_when="before_store")
        with app.app_context():
            result = send_email("a@gov.uk", "welcome", {"name": "A"})
        [message] = stored(sim, result.reference)
        assert message["id"] == result.id
        assert fake.slept >= IN_FLIGHT_BOUND

    def test_a_reference_given_to_another_person_s_email_never_passes_for_this_one(
        self, notify_app: Callable[..., Flask], sim: Any
    ) -> None:
        # A service gives every password-reset email one reference. Ada's went a moment ago;
        # Bo's request times out. The lookup finds Ada's notification by the reference: it
        # is not Bo's, who would otherwise never get the email.
        app = notify_app(DM_NOTIFY_RETRY_DEADLINE=120)
        on_a_fake_clock(app, sim)
        with app.app_context():
            ada = send_email("ada@gov.uk", "welcome", {"name": "Ada"}, reference="password-reset")
            sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 1, hang_when="before_store")
            bo = send_email("bo@gov.uk", "welcome", {"name": "Bo"}, reference="password-reset")
        assert bo.id != ada.id and not bo.already_sent
        assert sorted(m["to"] for m in stored(sim, "password-reset")) == ["ada@gov.uk", "bo@gov.uk"]

    def test_a_template_id_configured_in_capitals_still_finds_its_lost_response(
        self, notify_app: Callable[..., Flask], sim: Any, template_id: str
    ) -> None:
        # DM_NOTIFY_TEMPLATES takes a UUID in any case; Notify answers in lower case. The
        # lookup must still know its own email, or it would post it a second time.
        app = notify_app(DM_NOTIFY_RETRY_DEADLINE=120, DM_NOTIFY_TEMPLATES={"welcome": template_id.upper()})
        on_a_fake_clock(app, sim)
        sim.set_faults(hang_next=1, hang_seconds=TIMEOUT + 1, hang_when="after_store")
        with app.app_context():
            result = send_email("a@gov.uk", "welcome", {"name": "A"})
        [message] = stored(sim, result.reference)
        assert message["id"] == result.id

    def test_persistent_5xx_gives_up_within_the_budget(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        # Notify itself answered 500 each time and a lookup confirmed nothing was stored,
        # so the error can say so.
        sim.set_faults(error_rate=1.0)
        with notify_app(DM_NOTIFY_MAX_ATTEMPTS=3).app_context(), pytest.raises(EmailUnavailableError) as info:
            send_email("a@gov.uk", "welcome", {"name": "A"})
        assert not isinstance(info.value, EmailOutcomeUnknownError)
        assert "did not accept the email after 3 attempts" in str(info.value)
        assert "nothing was sent" in str(info.value)
        assert info.value.reference
        sim.clear_faults()
        assert stored(sim, info.value.reference) == []

    def test_5xx_after_storing_is_found_not_resent(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        sim.set_faults(error_next=1, error_when="after_store")
        with notify_app().app_context():
            result = send_email("a@gov.uk", "welcome", {"name": "A"})
        assert [m["id"] for m in stored(sim, result.reference)] == [result.id]

    def test_with_no_time_left_a_lost_response_is_still_looked_up_once(
        self, notify_app: Callable[..., Flask], sim: Any
    ) -> None:
        sim.set_faults(hang_rate=1.0, hang_seconds=TIMEOUT + 0.5, hang_when="after_store")
        with notify_app(DM_NOTIFY_MAX_ATTEMPTS=1, DM_NOTIFY_RETRY_DEADLINE=0).app_context():
            result = send_email("a@gov.uk", "welcome", {"name": "A"})
        assert [m["id"] for m in stored(sim, result.reference)] == [result.id]

    def test_retry_then_recover_with_allow_resend_false(self, notify_app: Callable[..., Flask], sim: Any) -> None:
        sim.set_faults(hang_rate=1.0, hang_seconds=TIMEOUT + 0.5, hang_when="before_store")
        app = notify_app(DM_NOTIFY_MAX_ATTEMPTS=1, DM_NOTIFY_RETRY_DEADLINE=0)
        with app.app_context():
            with pytest.raises(EmailOutcomeUnknownError) as info:
                send_email("a@gov.uk", "welcome", {"name": "A"})
            sim.clear_faults()
            # A caller's later retry, once the request can no longer arrive, sends it once.
            again = send_email("a@gov.uk", "welcome", {"name": "A"}, allow_resend=False)
        assert not again.already_sent
        assert [m["id"] for m in stored(sim, info.value.reference)] == [again.id]


def test_twenty_threads_send_through_one_app(notify_app: Callable[..., Flask], sim: Any) -> None:
    app = notify_app()
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with app.app_context():
                for i in range(5):
                    results[n * 100 + i] = send_email(f"user{n}.{i}@gov.uk", "welcome", {"name": f"{n}-{i}"})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 100
    ids = {r.id for r in results.values()}
    assert len(ids) == 100
    assert {m["id"] for m in sim.messages()} == ids


def test_no_personal_data_or_secret_in_any_log_record(
    notify_app: Callable[..., Flask], sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    app = notify_app()
    key = app.extensions["dm_email"].settings.notify_key
    addresses = ["Private.Person@gov.uk", "tester@example.com", "not valid@gov.uk"]
    with app.app_context():
        send_email(addresses[0], "welcome", {"name": "Secret Name"})
        send_email(addresses[1], "welcome", {"name": "Secret Name"})
        with pytest.raises(EmailInvalidError):
            send_email(addresses[2], "welcome", {"name": "Secret Name"})
        with pytest.raises(EmailTemplateError):
            send_email(addresses[0], "welcome")
        sim.set_faults(error_next=1, hang_next=1, hang_seconds=TIMEOUT + 0.5)
        send_email(addresses[0], "welcome", {"name": "Other"})
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.__dict__)
        for address in addresses:
            assert address not in text and address.lower() not in text
        assert "Secret Name" not in text
        assert key is not None and key[-36:] not in text
    assert any(hash_string(addresses[0]) in r.getMessage() for r in caplog.records)


def test_a_request_held_in_flight_past_the_timeout_is_sent_once(
    notify_app: Callable[..., Flask], sim: Any
) -> None:
    """Issue: a send request (not its response) held past the client's timeout by a slow
    link reached Notify after the lookup had found nothing, and the resend made two
    notifications. Now nothing is resent until the request can no longer arrive, and the
    lookups find it when it lands."""
    port = int(sim.url.rsplit(":", 1)[1])
    with HoldingProxy(port, hold_posts=3, hold_seconds=TIMEOUT + 1.0) as proxy:
        app = notify_app(DM_NOTIFY_BASE_URL=proxy.url)
        results = []
        with app.app_context():
            for n in range(3):
                results.append(send_email(f"person{n}@gov.uk", "welcome", {"name": "A"}))
        assert proxy.held == 3
    for result in results:
        assert [m["id"] for m in stored(sim, result.reference)] == [result.id]
