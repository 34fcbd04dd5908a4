"""Templates given at start-up (an app's ``DM_NOTIFY_TEMPLATES``), stand-ins that list the
personalisation they are sent with, editing them, and the identity endpoint."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests
from notifications_python_client import NotificationsAPIClient
from notifications_python_client.errors import HTTPError

from flask_dm_email.local_simulator import SIMULATOR_IDENTITY, find_simulator, stand_in_templates
from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.simulator.defaults import SIMULATOR_IDENTITY as SERVED_IDENTITY

from .conftest import DELIVERY_DELAY

WELCOME = "f33517ff-2a88-4f6e-b855-c550268ce08a"
RESET = "0d1d5bd8-6bd5-4dbc-bc1e-7b02e4c4bd0c"


@pytest.fixture
def app_sim() -> Iterator[SimulatorServer]:
    templates = stand_in_templates({"welcome": WELCOME, "password-reset": RESET})
    with SimulatorServer(delivery_delay=DELIVERY_DELAY, templates=templates) as server:
        yield server


def test_the_app_s_templates_are_served_by_id_and_list_the_personalisation(app_sim: SimulatorServer) -> None:
    client = NotificationsAPIClient(app_sim.api_key("test"), base_url=app_sim.url)
    sent = client.send_email_notification("a@example.com", WELCOME, {"name": "Alex", "link": "https://x.gov.uk"})
    assert sent["template"]["id"] == WELCOME
    assert sent["content"]["subject"] == "welcome (the simulator\u2019s stand-in template)"
    body = sent["content"]["body"]
    assert "* name: Alex\n* link: https://x.gov.uk" in body
    assert "stand-in for your template \u201cwelcome\u201d" in body
    [message] = app_sim.messages()
    assert "<li" in app_sim.state.message_html(message["id"]) and "Alex" in app_sim.state.message_html(message["id"])
    # No personalisation at all is not an error either: the stand-in has no placeholders of its own.
    empty = client.send_email_notification("a@example.com", RESET)
    assert "sent with no personalisation" in empty["content"]["body"]
    assert {t["id"] for t in app_sim.service()["templates"]} == {WELCOME, RESET}


def test_a_stand_in_becomes_the_real_template_once_edited_through_the_admin_api(app_sim: SimulatorServer) -> None:
    service_id = app_sim.service()["id"]
    response = requests.post(
        f"{app_sim.url}/_simulator/services/{service_id}/templates",
        json={"id": WELCOME, "subject": "Welcome, ((name))", "body": "Hello ((name)), sign in at ((link))."},
        timeout=5,
    )
    assert response.status_code == 201 and response.json() == {"id": WELCOME, "version": 2}
    client = NotificationsAPIClient(app_sim.api_key("test"), base_url=app_sim.url)
    sent = client.send_email_notification("a@example.com", WELCOME, {"name": "Alex", "link": "https://x.gov.uk"})
    assert sent["content"] == {**sent["content"], "subject": "Welcome, Alex",
                               "body": "Hello Alex, sign in at https://x.gov.uk."}
    with pytest.raises(HTTPError, match="Missing personalisation: link"):  # a real template's rules now
        client.send_email_notification("a@example.com", WELCOME, {"name": "Alex"})
    # Changing only the subject keeps a stand-in a stand-in.
    requests.post(f"{app_sim.url}/_simulator/services/{service_id}/templates",
                  json={"id": RESET, "subject": "Reset"}, timeout=5).raise_for_status()
    assert "* name: Sam" in client.send_email_notification("a@example.com", RESET, {"name": "Sam"})["content"]["body"]


def test_a_reset_keeps_the_templates_given_at_start_up(app_sim: SimulatorServer) -> None:
    app_sim.reset()
    assert {t["id"] for t in app_sim.service()["templates"]} == {WELCOME, RESET}


def test_a_config_template_with_the_same_id_wins_over_the_app_s_stand_in() -> None:
    config = {"services": [{"name": "Mine", "templates": [
        {"id": WELCOME, "name": "Welcome", "subject": "Hi ((name))", "body": "Real body for ((name))"}]}]}
    with SimulatorServer(config, templates=stand_in_templates({"welcome": WELCOME})) as server:
        client = NotificationsAPIClient(server.create_api_key(key_type="test"), base_url=server.url)
        assert client.send_email_notification("a@example.com", WELCOME, {"name": "Al"})["content"]["body"] == (
            "Real body for Al"
        )


def test_template_not_found_keeps_notify_s_answer_and_logs_how_to_add_one(
    app_sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = NotificationsAPIClient(app_sim.api_key("test"), base_url=app_sim.url)
    missing = "11111111-1111-4111-8111-111111111111"
    with caplog.at_level(logging.WARNING), pytest.raises(HTTPError) as error:
        client.send_email_notification("a@example.com", missing)
    assert error.value.message == [{"error": "BadRequestError", "message": "Template not found"}]
    assert missing in caplog.text
    assert f"POST /_simulator/services/{app_sim.service()['id']}/templates" in caplog.text
    assert "DM_NOTIFY_TEMPLATES" in caplog.text


def test_the_identity_endpoint_is_what_clients_check(sim: SimulatorServer) -> None:
    assert SERVED_IDENTITY == SIMULATOR_IDENTITY  # the client side keeps its own copy
    answer = requests.get(f"{sim.url}/_simulator/identity", timeout=5).json()
    assert answer["simulator"] == SIMULATOR_IDENTITY and answer["inbox"] == "/_simulator/inbox"
    found = find_simulator(sim.url + "/")
    assert found is not None and found.url == sim.url and found.inbox_url == f"{sim.url}/_simulator/inbox"


def test_another_server_on_the_port_is_not_taken_for_a_simulator(receiver: object) -> None:
    url = receiver.url.rsplit("/", 1)[0]  # type: ignore[attr-defined]
    assert find_simulator(url) is None  # it answers, but not as a simulator
    assert find_simulator("http://127.0.0.1:9") is None  # nothing listens
    assert find_simulator("https://api.notifications.service.gov.uk") is None  # never asked
