"""Byte-level JSON encoding, headers and app-level error bodies (NOTIFY_API.md §2.3, §3)."""

from __future__ import annotations

import pytest
import requests

from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.simulator.jsonio import NOTIFY_HEADERS

from .helpers import call

NOT_FOUND = (b'{"message":"The requested URL was not found on the server. If you entered the URL manually please '
             b'check your spelling and try again.","result":"error"}\n')


def test_error_bodies_are_compact_sorted_ascii_with_a_newline(sim: SimulatorServer) -> None:
    service = sim.add_service(name="T", restricted=True, api_keys=[{"type": "team"}])
    template = sim.add_template(service["id"], name="T", subject="S", body="B")
    response = call(sim, "POST", "/v2/notifications/email", key=service["api_keys"][0]["key"],
                    json={"email_address": "a@example.com", "template_id": template})
    assert response.content == (
        b'{"errors":[{"error":"BadRequestError","message":"Can\\u2019t send to this recipient using a team-only '
        b'API key"}],"status_code":400}\n'
    )
    assert response.headers["Content-Type"] == "application/json"


def test_success_bodies_too(sim: SimulatorServer) -> None:
    template = sim.add_template(name="T", subject="S", body="Caf\u00e9 \u2013 ((x))")
    response = call(sim, "POST", "/v2/notifications/email", key=sim.api_key(),
                    json={"email_address": "a@example.com", "template_id": template, "personalisation": {"x": "y"}})
    assert response.status_code == 201
    assert response.content.startswith(b'{"content":{"body":"Caf\\u00e9 \\u2013 y","from_email":')
    assert response.content.endswith(b"}\n") and b", " not in response.content and b'": ' not in response.content


@pytest.mark.parametrize("path", ["/_status", "/v2/templates"])
def test_notify_headers_on_every_response(sim: SimulatorServer, path: str) -> None:
    response = call(sim, "GET", path, key=sim.api_key())
    for name, value in NOTIFY_HEADERS.items():
        assert response.headers[name] == value


def test_status(sim: SimulatorServer) -> None:
    assert requests.get(f"{sim.url}/_status", timeout=5).json() == {"status": "ok"}


def test_unknown_urls_get_the_app_level_404(sim: SimulatorServer) -> None:
    for method, path in [("POST", "/v2/notifications/foo"), ("GET", "/nothing"), ("GET", "/v2/_simulator/reset")]:
        response = call(sim, method, path, key=sim.api_key())
        assert response.status_code == 404
        assert response.content == NOT_FOUND


def test_wrong_method_gets_the_app_level_405(sim: SimulatorServer) -> None:
    response = call(sim, "DELETE", "/v2/notifications/email", key=sim.api_key())
    assert response.status_code == 405
    assert response.content == b'{"message":"The method is not allowed for the requested URL.","result":"error"}\n'


def test_admin_endpoints_are_not_under_v2(sim: SimulatorServer) -> None:
    assert call(sim, "POST", "/v2/_simulator/faults", key=sim.api_key(), json={}).status_code == 404
