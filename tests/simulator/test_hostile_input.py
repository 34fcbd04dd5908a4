"""Hostile input: absurd nesting, lone surrogates and wild knob values get a 4xx, never a crash."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from flask_dm_email.simulator import ZERO_CONFIG_SERVICE_ID, SimulatorServer

from .conftest import Receiver
from .helpers import call, raw_token, v2_error

GENERAL_AUTH_MESSAGE = (
    "Invalid token: make sure your API token matches the example at "
    "https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header"
)
DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, '{"personalisation": ' + DEEP + "}"])
@pytest.mark.parametrize("path", ["/v2/notifications/email", "/v2/notifications/sms", "/v2/notifications/letter"])
def test_deeply_nested_json_is_invalid_json_on_v2(sim: SimulatorServer, path: str, body: str) -> None:
    v2_error(call(sim, "POST", path, key=sim.api_key(), data=body), 400, "BadRequestError",
             "Invalid JSON supplied in POST data")


def test_deeply_nested_json_in_a_preview(sim: SimulatorServer, template_id: str) -> None:
    v2_error(call(sim, "POST", f"/v2/template/{template_id}/preview", key=sim.api_key(), data=DEEP),
             400, "BadRequestError", "Invalid JSON supplied in POST data")


def test_nesting_a_real_client_might_send_still_works(sim: SimulatorServer, template_id: str) -> None:
    nested: object = "x"
    for _ in range(20):
        nested = {"a": [nested]}
    body = {"email_address": "a@example.com", "template_id": template_id,
            "personalisation": {"name": "A", "extra": nested}}
    assert call(sim, "POST", "/v2/notifications/email", key=sim.api_key(), json=body).status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/_simulator/services",
        f"/_simulator/services/{ZERO_CONFIG_SERVICE_ID}/api-keys",
        f"/_simulator/services/{ZERO_CONFIG_SERVICE_ID}/api-keys/revoke",
        f"/_simulator/services/{ZERO_CONFIG_SERVICE_ID}/templates",
        f"/_simulator/services/{ZERO_CONFIG_SERVICE_ID}/callbacks",
        "/_simulator/faults",
    ],
)
def test_deeply_nested_json_on_admin_endpoints_is_a_400(sim: SimulatorServer, path: str) -> None:
    response = requests.post(f"{sim.url}{path}", data=DEEP, timeout=10)
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]


def _segment(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def test_a_jwt_with_a_deeply_nested_payload_is_a_403(sim: SimulatorServer) -> None:
    token = f"{_segment(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{_segment(DEEP_OBJECT)}.c2ln"
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError", GENERAL_AUTH_MESSAGE)


def test_a_jwt_with_a_deeply_nested_header_is_a_403(sim: SimulatorServer) -> None:
    payload = {"iss": ZERO_CONFIG_SERVICE_ID, "iat": 1}
    token = f"{_segment(DEEP_OBJECT)}.{_segment(json.dumps(payload))}.c2ln"
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError", GENERAL_AUTH_MESSAGE)


def test_a_signed_jwt_with_a_nested_claim_still_authenticates(sim: SimulatorServer) -> None:
    key = sim.api_key()
    nested: object = 1
    for _ in range(50):
        nested = [nested]
    token = raw_token({"iss": key[-73:-37], "iat": int(time.time()), "x": nested}, key[-36:])
    assert call(sim, "GET", "/v2/templates", token=token).status_code == 200



LONE = "\ud800"
UNENCODABLE = {"errors": [{"error": "UnicodeEncodeError", "message": "Internal server error"}], "status_code": 500}


def send(sim: SimulatorServer, template_id: str, **fields: object) -> requests.Response:
    body = {"email_address": "a@example.com", "template_id": template_id, **fields}
    # requests escapes the surrogate as "\ud800" in the JSON it sends, as any client would.
    return call(sim, "POST", "/v2/notifications/email", key=sim.api_key(), json=body)


def test_a_lone_surrogate_in_the_reference_fails_to_store_as_in_notify(sim: SimulatorServer,
                                                                        template_id: str) -> None:
    response = send(sim, template_id, personalisation={"name": "A"}, reference=f"ref-{LONE}")
    assert response.status_code == 500 and response.json() == UNENCODABLE
    assert sim.messages() == []


def test_a_smoke_test_send_with_a_lone_surrogate_reference_is_not_stored_so_it_works(
    sim: SimulatorServer, template_id: str
) -> None:
    response = send(sim, template_id, email_address="simulate-delivered@notifications.service.gov.uk",
                    personalisation={"name": "A"}, reference=f"ref-{LONE}")
    assert response.status_code == 201
    assert b'"reference":"ref-\\ud800"' in response.content


def test_a_lone_surrogate_in_the_body_fails_the_size_check_as_in_notify(sim: SimulatorServer,
                                                                         template_id: str) -> None:
    response = send(sim, template_id, personalisation={"name": LONE})
    assert response.status_code == 500 and response.json() == UNENCODABLE
    assert sim.messages() == []


def test_what_was_stored_with_a_lone_surrogate_shows_in_the_inbox(sim: SimulatorServer) -> None:
    service = sim.add_service(name=f"Service {LONE}", api_keys=[{"type": "test"}])
    template = sim.add_template(service["id"], name=f"Template {LONE}", subject="About ((topic))", body="Body")
    response = call(sim, "POST", "/v2/notifications/email", key=service["api_keys"][0]["key"],
                    json={"email_address": "a@example.com", "template_id": template,
                          "personalisation": {"topic": f"x{LONE}y", "unused": LONE}})
    assert response.status_code == 201
    listing = requests.get(f"{sim.url}/_simulator/inbox", timeout=5)
    assert listing.status_code == 200 and "About x\ufffdy" in listing.text and "Template \ufffd" in listing.text
    page = requests.get(f"{sim.url}/_simulator/inbox/{response.json()['id']}", timeout=5)
    assert page.status_code == 200 and "Service \ufffd" in page.text
    assert requests.get(f"{sim.url}/_simulator/messages", timeout=5).json()["messages"][0]["subject"] == (
        f"About x{LONE}y")


def test_a_file_name_with_a_lone_surrogate_still_downloads(sim: SimulatorServer) -> None:
    service = sim.add_service(name="Files", contact_link="https://example.gov.uk/contact",
                              api_keys=[{"type": "test"}])
    template = sim.add_template(service["id"], name="File", subject="Your file", body="((link))")
    upload = {"file": base64.b64encode(b"data").decode(), "filename": f"a{LONE}.txt"}
    response = call(sim, "POST", "/v2/notifications/email", key=service["api_keys"][0]["key"],
                    json={"email_address": "a@example.com", "template_id": template,
                          "personalisation": {"link": upload}})
    assert response.status_code == 201
    download = requests.get(response.json()["content"]["body"], timeout=5)
    assert download.status_code == 200 and download.content == b"data"


def test_a_callback_token_http_cannot_carry_is_recorded_as_a_failed_attempt(
    sim: SimulatorServer, template_id: str, receiver: Receiver
) -> None:
    sim.set_callbacks(delivery_status=(receiver.url, "token-\u2603-1234567890"))
    assert send(sim, template_id, personalisation={"name": "A"}).status_code == 201
    [attempt] = sim.wait_for_callbacks(1)
    assert attempt["result"] == "retry" and attempt["error"] == "UnicodeEncodeError"
