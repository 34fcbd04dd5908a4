"""Authentication, validation and the shape of every refusal."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from flask_dm_email.helpers import hash_string

from .conftest import ADDRESS, NEW_TOKEN, TOKEN, CallbackApp, make_complaint, make_receipt


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic " + TOKEN, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Token " + TOKEN],
)
def test_missing_or_wrong_tokens_are_refused_without_echo(callbacks: CallbackApp, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = callbacks.post(make_receipt(status="permanent-failure"), token=None, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["status"] == "error"
    assert TOKEN not in response.get_data(as_text=True)
    assert callbacks.hook_calls == []


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(callbacks: CallbackApp, scheme: str) -> None:
    response = callbacks.post(make_receipt(), token=None, headers={"Authorization": f"{scheme} {TOKEN}"})
    assert response.status_code == 200


def test_token_rotation(make_callback_app: Callable[..., CallbackApp]) -> None:
    both = make_callback_app(DM_NOTIFY_CALLBACK_TOKEN=f"{TOKEN},{NEW_TOKEN}")
    assert both.post(make_receipt(), token=TOKEN).status_code == 200
    assert both.post(make_receipt(), token=NEW_TOKEN).status_code == 200
    rotated = make_callback_app(DM_NOTIFY_CALLBACK_TOKEN=[NEW_TOKEN])
    assert rotated.post(make_receipt(), token=NEW_TOKEN).status_code == 200
    assert rotated.post(make_receipt(), token=TOKEN).status_code == 401


def test_tokens_are_compared_in_constant_time_against_every_token(
    make_callback_app: Callable[..., CallbackApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("flask_dm_email.callback_blueprint.hmac.compare_digest", spy)
    callbacks = make_callback_app(DM_NOTIFY_CALLBACK_TOKEN=f"{TOKEN},{NEW_TOKEN}")
    callbacks.post(make_receipt(), token=TOKEN)
    assert len(calls) == 2  # the first token matched, and the second was still compared


def test_without_a_token_on_the_test_stage_callbacks_are_open(make_callback_app: Callable[..., CallbackApp]) -> None:
    open_app = make_callback_app(DM_NOTIFY_CALLBACK_TOKEN=None)
    assert open_app.post(make_receipt(), token=None).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "The body is not valid JSON."),
        ("", "The body is not valid JSON."),
        ("[1, 2]", "The body must be a JSON object."),
        ("null", "The body must be a JSON object."),
        ("[" * 100_000 + "]" * 100_000, None),
    ],
)
def test_bodies_that_are_not_objects(callbacks: CallbackApp, body: str, message: str | None) -> None:
    response = callbacks.post(body)
    assert response.status_code in (400, 413)
    assert response.get_json()["status"] == "error"
    if message:
        assert response.get_json()["message"] == message


def test_deeply_nested_json_is_refused_cleanly(callbacks: CallbackApp) -> None:
    response = callbacks.post('{"a":' * 5_000 + "1" + "}" * 5_000)  # deep, but under the size cap
    assert response.status_code == 400
    assert response.get_json()["message"] == "The body is not valid JSON."


def test_missing_and_mistyped_fields_are_named(callbacks: CallbackApp) -> None:
    receipt = make_receipt(template_version="1", template_id="nope")
    del receipt["status"]
    response = callbacks.post(receipt)
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == "Invalid fields: status, template_id, template_version."
    assert set(body["errors"]) == {"status", "template_id", "template_version"}
    assert ADDRESS not in response.get_data(as_text=True)


def test_a_wrongly_typed_address_is_not_echoed(callbacks: CallbackApp) -> None:
    response = callbacks.post(make_receipt(to=["someone@example.com"]))
    assert response.status_code == 400
    assert "someone@example.com" not in response.get_data(as_text=True)


def test_oversized_bodies(callbacks: CallbackApp) -> None:
    response = callbacks.post(make_receipt(padding="x" * 70_000))
    assert response.status_code == 413
    assert response.get_json()["status"] == "error"


def test_wrong_methods_get_json_405(callbacks: CallbackApp) -> None:
    response = callbacks.client.get("/callbacks/notify")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.get_json()["status"] == "error"


class TestComplaints:
    def test_logged_and_signalled(self, callbacks: CallbackApp, caplog: pytest.LogCaptureFixture) -> None:
        from flask_dm_email.signals import complaint_received

        got: list[Any] = []
        complaint = make_complaint()
        with complaint_received.connected_to(lambda s, **kw: got.append(kw["complaint"]), callbacks.app):
            response = callbacks.post(complaint, path="/callbacks/notify/complaints")
        assert response.status_code == 200
        assert got[0]["complaint_id"] == complaint["complaint_id"]
        line = (
            f"Notify complaint: {hash_string(ADDRESS)} marked email with ref ref-123 as spam "
            f"(complaint {complaint['complaint_id']})"
        )
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [line]

    def test_the_complaint_handler_and_its_failures(self, make_callback_app: Callable[..., CallbackApp]) -> None:
        callbacks = make_callback_app()
        extension = callbacks.extension
        handled: list[str] = []
        failures = [RuntimeError("down")]

        @extension.complaint_handler
        def handle(email_address: str, complaint: Any) -> None:
            if failures:
                raise failures.pop()
            handled.append(email_address)

        complaint = make_complaint()
        assert callbacks.post(complaint, path="/callbacks/notify/complaints").status_code == 500
        assert callbacks.post(complaint, path="/callbacks/notify/complaints").status_code == 200
        assert handled == [ADDRESS]

    def test_invalid_complaints(self, callbacks: CallbackApp) -> None:
        response = callbacks.post(json.dumps({"to": ADDRESS}), path="/callbacks/notify/complaints")
        assert response.status_code == 400
        assert set(response.get_json()["errors"]) == {"notification_id", "complaint_id", "complaint_date"}


def test_the_missing_token_warning_comes_once_when_the_app_serves(
    make_callback_app: Callable[..., CallbackApp], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="flask_dm_email")
    callbacks = make_callback_app(DM_NOTIFY_CALLBACK_TOKEN=None)
    assert not any("without a bearer token" in r.getMessage() for r in caplog.records)  # init_app: silent
    callbacks.client.get("/callbacks")
    callbacks.client.get("/callbacks")
    [warning] = [r.getMessage() for r in caplog.records if "without a bearer token" in r.getMessage()]
    assert "DM_NOTIFY_CALLBACKS_ENABLED=false" in warning
