"""Hostile input: absurd nesting, lone surrogates and wild knob values get a 4xx, never a crash."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from flask_dm_email.simulator import ZERO_CONFIG_SERVICE_ID, SimulatorServer

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

