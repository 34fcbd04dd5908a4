"""DMEmail registration, the send path on the memory and log backends, signals and
the testing helpers."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

import flask_dm_email
from flask_dm_email import (
    DMEmail,
    EmailInvalidError,
    EmailTemplateError,
    RecipientNotAllowedError,
    send_email,
)
from flask_dm_email.backends import OutgoingEmail
from flask_dm_email.helpers import hash_string, make_reference
from flask_dm_email.signals import email_failed, email_sent
from flask_dm_email.testing import record_emails

from .conftest import TEMPLATE_ID

SAFE = "success@simulator.amazonses.com"


def dmutils_reference(email_address: str, template_id: str, personalisation: dict[str, Any] | None) -> str:
    """The reference as dmutils' DMNotifyClient.get_reference computes it, restated here."""
    values = ",".join(str(v) for v in personalisation.values()) if personalisation else ""
    digest = hashlib.sha256("|".join([email_address, template_id, values]).encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("utf-8")


class TestRegistration:
    def test_state_lives_only_in_app_extensions(self, make_app: Callable[..., Flask]) -> None:
        extension = DMEmail()
        app = make_app(extension, DM_ENVIRONMENT="test")
        assert app.extensions["dm_email"].hooks is extension._hooks
        assert not hasattr(extension, "app")
        assert "/callbacks" in {rule.rule for rule in app.url_map.iter_rules()}

    def test_app_argument_calls_init_app(self) -> None:
        app = Flask(__name__)
        app.config["DM_ENVIRONMENT"] = "test"
        DMEmail(app)
        assert "dm_email" in app.extensions

    def test_second_registration_is_refused(self, make_app: Callable[..., Flask]) -> None:
        app = make_app(DM_ENVIRONMENT="test")
        with pytest.raises(RuntimeError, match="already been registered on this Flask app"):
            DMEmail().init_app(app)

    def test_outside_an_app_context(self) -> None:
        with pytest.raises(RuntimeError, match="needs an application context"):
            send_email("a@example.com", TEMPLATE_ID)

    def test_app_without_init_app(self) -> None:
        app = Flask(__name__)
        with app.app_context(), pytest.raises(RuntimeError, match="Did you forget to call"):
            send_email("a@example.com", TEMPLATE_ID)

    def test_decorators_return_the_function_unchanged(self) -> None:
        extension = DMEmail()

        def deactivate(email_address: str, receipt: Any) -> bool:
            return True

        assert extension.user_deactivator(deactivate) is deactivate
        assert extension.registered_user_deactivator is deactivate

    def test_one_extension_two_apps(self, make_app: Callable[..., Flask]) -> None:
        extension = DMEmail()
        first = make_app(extension, DM_ENVIRONMENT="test")
        second = make_app(extension, DM_ENVIRONMENT="test", DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={"example.com": SAFE})
        with first.app_context():
            assert not extension.send_email("a@example.com", TEMPLATE_ID).redirected
        with second.app_context():
            assert extension.send_email("a@example.com", TEMPLATE_ID).redirected
        assert len(first.extensions["dm_email"].backend.outbox) == 1
        assert len(second.extensions["dm_email"].backend.outbox) == 1


class TestSending:
    def test_send_by_template_name(self, app: Flask) -> None:
        with record_emails(app) as outbox:
            result = send_email("Someone@gov.uk", "welcome", {"name": "Alex"})
        assert result.template_id == TEMPLATE_ID
        assert result.template_name == "welcome"
        assert result.backend == "memory"
        assert result.id
        assert [e.to for e in outbox] == ["Someone@gov.uk"]
        assert outbox[0].personalisation == {"name": "Alex"}

    def test_send_by_template_id(self, app: Flask) -> None:
        assert send_email("someone@gov.uk", TEMPLATE_ID.upper()).template_id == TEMPLATE_ID

    def test_unknown_template_name_names_the_setting(self, app: Flask) -> None:
        with pytest.raises(EmailTemplateError, match="DM_NOTIFY_TEMPLATES \\(welcome\\)"):
            send_email("someone@gov.uk", "welcom")

    def test_default_reference_is_dmutils_value_from_the_original_address(self, app: Flask) -> None:
        personalisation = {"name": "Alex", "count": 3}
        result = send_email("tester@example.com", "welcome", personalisation)
        assert result.redirected
        assert result.reference == dmutils_reference("tester@example.com", TEMPLATE_ID, personalisation)
        assert result.reference == make_reference("tester@example.com", TEMPLATE_ID, personalisation)

    def test_reference_known_values(self) -> None:
        # Computed once with dmutils' algorithm; pinned so a change of algorithm is caught.
        assert make_reference("test@example.com", TEMPLATE_ID, None) == dmutils_reference(
            "test@example.com", TEMPLATE_ID, None
        )
        assert hash_string("test@example.com") == "lz3-Rj7IV4X1-Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs="
        assert make_reference("test@example.com", "abc", {"a": 1, "b": "x"}) == hash_string("test@example.com|abc|1,x")

    def test_explicit_reference(self, app: Flask) -> None:
        assert send_email("a@gov.uk", "welcome", reference="my-ref").reference == "my-ref"

    def test_redirect_result(self, app: Flask) -> None:
        with record_emails(app) as outbox:
            result = send_email("TESTER@Example.COM", "welcome")
        assert result.redirected
        assert result.redirect_reason == "domain example.com is in DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"
        assert outbox[0].to == SAFE
        assert outbox[0].to_hash == hash_string("TESTER@Example.COM")

    def test_invalid_address_fails_before_sending(self, app: Flask) -> None:
        with record_emails(app) as outbox, pytest.raises(EmailInvalidError):
            send_email("not an address", "welcome")
        assert outbox == []
        assert app.extensions["dm_email"].backend.outbox == []

    def test_allow_list_fails_before_sending(self, make_app: Callable[..., Flask]) -> None:
        app = make_app(DM_ENVIRONMENT="test", DM_NOTIFY_ALLOWED_RECIPIENTS="@team.gov.uk")
        with app.app_context():
            send_email("me@team.gov.uk", TEMPLATE_ID)
            with pytest.raises(RecipientNotAllowedError):
                send_email("someone@else.gov.uk", TEMPLATE_ID)
        assert len(app.extensions["dm_email"].backend.outbox) == 1

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"personalisation": ["Alex"]}, "must be a dict"),
            ({"reference": "x" * 1001}, "at most 1000 characters"),
            ({"reply_to_id": "nope"}, "reply_to_id must be a Notify reply-to address id"),
            ({"personalisation": {"score": float("nan")}}, "personalisation 'score' .* not float NaN or infinity"),
            ({"personalisation": {"when": object()}}, "personalisation 'when' .* or a file from prepare_upload"),
        ],
    )
    def test_bad_arguments(self, app: Flask, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(EmailTemplateError, match=message):
            send_email("a@gov.uk", "welcome", **kwargs)

    def test_allow_resend_false_skips_a_duplicate(self, app: Flask) -> None:
        first = send_email("a@gov.uk", "welcome", {"name": "A"}, allow_resend=False)
        second = send_email("a@gov.uk", "welcome", {"name": "A"}, allow_resend=False)
        third = send_email("a@gov.uk", "welcome", {"name": "B"}, allow_resend=False)
        assert not first.already_sent and second.already_sent and not third.already_sent
        assert second.id == first.id
        assert len(app.extensions["dm_email"].backend.outbox) == 2

    def test_module_level_send_email_is_exported(self) -> None:
        assert flask_dm_email.send_email is send_email


class TestSignals:
    def test_email_sent_payload(self, app: Flask) -> None:
        received: list[dict[str, Any]] = []

        def receiver(sender: Flask, **kwargs: Any) -> None:
            received.append({"sender": sender, **kwargs})

        with email_sent.connected_to(receiver, app):
            result = send_email("a@gov.uk", "welcome")
        assert received[0]["sender"] is app
        assert received[0]["result"] == result
        assert isinstance(received[0]["email"], OutgoingEmail)

    def test_email_failed_payload(self, app: Flask) -> None:
        received: list[dict[str, Any]] = []

        def receiver(sender: Flask, **kwargs: Any) -> None:
            received.append(kwargs)

        with email_failed.connected_to(receiver, app), pytest.raises(EmailInvalidError):
            send_email("bad", "welcome")
        assert received[0]["email"] is None
        assert isinstance(received[0]["error"], EmailInvalidError)

    def test_signals_are_scoped_to_the_sender_app(self, app: Flask, make_app: Callable[..., Flask]) -> None:
        other = make_app(DM_ENVIRONMENT="test")
        with record_emails(other) as outbox:
            send_email("a@gov.uk", "welcome")
        assert outbox == []


def test_on_development_the_log_backend_shows_the_email_in_one_record(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """Showing the email is the log backend's job on a laptop (issue: it said "not sent",
    then "Sent ... through log", and hid what would have gone)."""
    app = make_app(DM_NOTIFY_TEMPLATES={"reset": TEMPLATE_ID})
    caplog.set_level(logging.INFO, logger="flask_dm_email")
    with app.app_context():
        result = send_email("Private.Person@gov.uk", "reset", {"reset_link": "https://x/secret-token"})
    assert result.backend == "log"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("flask_dm_email") and "mail" in r.getMessage()]
    assert lines == [
        "Email not sent (log backend: there is no DM_NOTIFY_KEY). It would have been:\n"
        "  to:        Private.Person@gov.uk\n"
        "  template:  reset\n"
        f"  reference: {result.reference}\n"
        "  personalisation:\n"
        "    reset_link: https://x/secret-token"
    ]


def test_elsewhere_the_log_backend_logs_one_line_without_personal_data(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="log", DM_NOTIFY_TEMPLATES={"reset": TEMPLATE_ID})
    caplog.set_level(logging.INFO, logger="flask_dm_email")
    with app.app_context():
        result = send_email("Private.Person@gov.uk", "reset", {"reset_link": "https://x/secret-token"})
    lines = [r for r in caplog.records if r.name.startswith("flask_dm_email") and "mail" in r.getMessage()]
    assert [r.getMessage() for r in lines] == [
        f"Email not sent (log backend): template reset to {hash_string('Private.Person@gov.uk')} "
        f"with ref {result.reference}, personalisation keys ['reset_link']"
    ]
    everything = " ".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "Private.Person" not in everything
    assert "secret-token" not in everything


def test_sent_emails_fixture(app: Flask, sent_emails: list[OutgoingEmail]) -> None:
    send_email("a@gov.uk", "welcome")
    assert [e.template_name for e in sent_emails] == ["welcome"]


def test_old_fixture_name_still_works(app: Flask, dm_email_outbox: list[OutgoingEmail]) -> None:
    send_email("someone@example.com", "welcome")
    assert [e.template_name for e in dm_email_outbox] == ["welcome"]


def test_email_outbox_fixture_queues_and_drains(app: Flask, email_outbox: Any) -> None:
    from flask_dm_email import queue_email

    queued = queue_email("someone@example.com", "welcome")
    assert [e.id for e in email_outbox.queued()] == [queued.id]
    assert email_outbox.drain() == 1
    assert email_outbox.get(queued.id).status == "sent-to-notify"
    assert email_outbox.counts() == {"sent-to-notify": 1}
