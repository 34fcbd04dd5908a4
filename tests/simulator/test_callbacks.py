"""Delivery-status and complaint callbacks: payload bytes, auth, retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from notifications_python_client import NotificationsAPIClient

from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.simulator.callback_sender import CALLBACK_STATUSES, delivery_status_payload
from flask_dm_email.simulator.models import Notification

from .conftest import CALLBACK_TOKEN, Receiver

DELIVERY_KEYS = ["id", "reference", "to", "status", "created_at", "completed_at", "sent_at", "notification_type",
                 "template_id", "template_version"]


@pytest.fixture
def wired(sim: SimulatorServer, receiver: Receiver) -> SimulatorServer:
    sim.set_callbacks(delivery_status=(receiver.url, CALLBACK_TOKEN), complaint=(receiver.url, CALLBACK_TOKEN))
    return sim


def send(client: NotificationsAPIClient, template_id: str, to: str = "Person@Example.com", **kwargs: Any) -> str:
    return str(client.send_email_notification(to, template_id, {"name": "A"}, **kwargs)["id"])


def test_the_receipt_bytes_headers_and_key_order(wired: SimulatorServer, receiver: Receiver,
                                                 client: NotificationsAPIClient, template_id: str) -> None:
    notification_id = send(client, template_id, reference="ref-\u2019")
    [attempt] = wired.wait_for_callbacks(1, kind="delivery_status", result="ok")
    [received] = receiver.requests
    payload = json.loads(received["body"])
    assert list(payload) == DELIVERY_KEYS
    # json.dumps defaults: ", " and ": " separators, ASCII escapes, no sorting.
    assert received["body"] == json.dumps(payload)
    assert "\\u2019" in received["body"]
    assert received["headers"]["Content-Type"] == "application/json"
    assert received["headers"]["Authorization"] == f"Bearer {CALLBACK_TOKEN}"
    message = wired.message(notification_id)
    assert message is not None
    assert payload == {
        "id": notification_id,
        "reference": "ref-\u2019",
        "to": "Person@Example.com",
        "status": "delivered",
        "created_at": message["created_at"],
        "completed_at": message["completed_at"],
        "sent_at": message["sent_at"],
        "notification_type": "email",
        "template_id": template_id,
        "template_version": 1,
    }
    assert attempt["payload"] == received["body"]
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200


@pytest.mark.parametrize(("address", "status"), [("perm-fail@simulator.notify", "permanent-failure"),
                                                  ("temp-fail@simulator.notify", "temporary-failure")])
def test_failures_are_called_back(wired: SimulatorServer, receiver: Receiver, client: NotificationsAPIClient,
                                  template_id: str, address: str, status: str) -> None:
    send(client, template_id, address)
    wired.wait_for_callbacks(1, result="ok")
    assert receiver.bodies()[0]["status"] == status


def test_500_twice_then_recovers_gets_the_receipt_once(wired: SimulatorServer, receiver: Receiver,
                                                       client: NotificationsAPIClient, template_id: str) -> None:
    receiver.respond_with(500, 500)
    send(client, template_id)
    wired.wait_for_callbacks(1, result="ok")
    attempts = wired.callback_attempts
    assert [(item["attempt"], item["status_code"], item["result"]) for item in attempts] == [
        (1, 500, "retry"), (2, 500, "retry"), (3, 200, "ok"),
    ]
    assert len(receiver.requests) == 3
    assert len({item["body"] for item in receiver.requests}) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_4xx_are_not_retried(wired: SimulatorServer, receiver: Receiver, client: NotificationsAPIClient,
                                   template_id: str, status: int) -> None:
    receiver.respond_with(status)
    send(client, template_id)
    [attempt] = wired.wait_for_callbacks(1)
    assert attempt["result"] == "rejected" and attempt["status_code"] == status
    with pytest.raises(TimeoutError):
        wired.wait_for_callbacks(2, timeout=0.3)
    assert len(receiver.requests) == 1


def test_429_is_retried(wired: SimulatorServer, receiver: Receiver, client: NotificationsAPIClient,
                        template_id: str) -> None:
    receiver.respond_with(429)
    send(client, template_id)
    wired.wait_for_callbacks(1, result="ok")
    assert [item["status_code"] for item in wired.callback_attempts] == [429, 200]


def test_gives_up_after_six_attempts(wired: SimulatorServer, receiver: Receiver, client: NotificationsAPIClient,
                                     template_id: str) -> None:
    receiver.respond_with(*[503] * 10)
    send(client, template_id)
    wired.wait_for_callbacks(1, result="gave_up")
    attempts = wired.callback_attempts
    assert [item["attempt"] for item in attempts] == [1, 2, 3, 4, 5, 6]
    assert [item["result"] for item in attempts] == ["retry"] * 5 + ["gave_up"]


def test_network_errors_are_retried(sim: SimulatorServer, client: NotificationsAPIClient, template_id: str) -> None:
    sim.set_callbacks(delivery_status=("http://127.0.0.1:9/nothing-listens", CALLBACK_TOKEN))
    send(client, template_id)
    attempts = sim.wait_for_callbacks(1, result="gave_up")
    assert attempts[0]["error"] == "ConnectionError"
    assert len(sim.callback_attempts) == 6


def test_no_callback_without_config_or_for_smoke_tests(sim: SimulatorServer, receiver: Receiver,
                                                       client: NotificationsAPIClient, template_id: str) -> None:
    notification_id = send(client, template_id)
    sim.wait_for_status(notification_id, "delivered")
    sim.set_callbacks(delivery_status=(receiver.url, CALLBACK_TOKEN))
    send(client, template_id, "simulate-delivered@notifications.service.gov.uk")
    with pytest.raises(TimeoutError):
        sim.wait_for_callbacks(1, timeout=0.3)
    assert receiver.requests == []


def test_technical_failure_is_not_called_back() -> None:
    notification = Notification(
        id="n", service_id="s", template_id="t", template_version=1, template_name="T", key_type="test",
        api_key_id="k", to="a@example.com", personalisation={}, reference=None, subject="S", body="B",
        from_email="f", reply_to=None, one_click_unsubscribe_url=None,
        created_at=datetime.now(UTC), outcome="technical-failure",
    )
    assert "technical-failure" not in CALLBACK_STATUSES
    assert list(delivery_status_payload(notification)) == DELIVERY_KEYS


def test_complaint_callbacks(wired: SimulatorServer, receiver: Receiver, client: NotificationsAPIClient,
                             template_id: str) -> None:
    notification_id = send(client, template_id, reference="r1")
    wired.wait_for_status(notification_id, "delivered")
    complaint_id = wired.trigger_complaint(notification_id)
    [attempt] = wired.wait_for_callbacks(1, kind="complaint", result="ok")
    body = json.loads(attempt["payload"])
    assert list(body) == ["notification_id", "complaint_id", "reference", "to", "complaint_date"]
    assert body["notification_id"] == notification_id
    assert body["complaint_id"] == complaint_id
    assert body["reference"] == "r1"
    assert body["to"] == "Person@Example.com"
    assert body["complaint_date"].endswith("Z")
    assert wired.message(notification_id)["status"] == "delivered"  # type: ignore[index]


def test_ses_complaint_address_sends_a_complaint(wired: SimulatorServer, receiver: Receiver,
                                                 template_id: str) -> None:
    client = NotificationsAPIClient(wired.api_key("normal"), base_url=wired.url)
    notification_id = send(client, template_id, "complaint@simulator.amazonses.com")
    wired.wait_for_callbacks(1, kind="complaint", notification_id=notification_id, result="ok")
    wired.wait_for_callbacks(1, kind="delivery_status", notification_id=notification_id, result="ok")


def test_default_callbacks_apply_to_services_without_their_own(receiver: Receiver) -> None:
    with SimulatorServer(delivery_delay=0.01, default_callback_url=receiver.url,
                         default_callback_token=CALLBACK_TOKEN) as sim:
        template = sim.add_template(name="T", subject="S", body="B")
        NotificationsAPIClient(sim.api_key(), base_url=sim.url).send_email_notification("a@example.com", template)
        sim.wait_for_callbacks(1, result="ok")
        assert receiver.requests[0]["headers"]["Authorization"] == f"Bearer {CALLBACK_TOKEN}"


def test_the_callback_log_over_http(wired: SimulatorServer, client: NotificationsAPIClient,
                                    template_id: str) -> None:
    notification_id = send(client, template_id)
    wired.wait_for_callbacks(1, result="ok")
    log = requests.get(f"{wired.url}/_simulator/callbacks", params={"notification_id": notification_id},
                       timeout=5).json()
    assert [item["result"] for item in log["callbacks"]] == ["ok"]
    assert CALLBACK_TOKEN not in json.dumps(log)
