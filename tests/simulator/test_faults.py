"""Fault knobs: errors, outages, forced 429s, latency, hangs and dropped callbacks."""

from __future__ import annotations

import time

import pytest
import requests
from notifications_python_client import NotificationsAPIClient
from notifications_python_client.errors import HTTP503Error, HTTPError

from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.simulator.faults import Faults

from .conftest import CALLBACK_TOKEN, Receiver
from .helpers import token_for


def outcomes(faults: Faults, count: int) -> list[str | None]:
    return [faults.post_outcome() for _ in range(count)]


def test_a_seed_makes_error_rate_repeatable() -> None:
    first, second = Faults(), Faults()
    first.merge({"seed": 7, "error_rate": 0.5})
    second.merge({"seed": 7, "error_rate": 0.5})
    assert outcomes(first, 50) == outcomes(second, 50)
    assert 10 < outcomes(first, 100).count("error") < 90


def test_bad_knobs_are_refused_naming_the_knob() -> None:
    faults = Faults()
    for knobs, text in [({"error_rate": 2}, "error_rate"), ({"nope": 1}, "nope"),
                        ({"hang_when": "later"}, "hang_when"), ({"force_429": "sometimes"}, "force_429")]:
        with pytest.raises(ValueError, match=text):
            faults.merge(knobs)


def send(client: NotificationsAPIClient, template_id: str) -> dict[str, object]:
    return dict(client.send_email_notification("a@example.com", template_id, {"name": "A"}))


def test_error_rate_with_a_seed(sim: SimulatorServer, client: NotificationsAPIClient, template_id: str) -> None:
    def run() -> list[int]:
        sim.set_faults(seed=42, error_rate=0.5)
        codes = []
        for _ in range(20):
            try:
                send(client, template_id)
                codes.append(201)
            except HTTPError as error:
                codes.append(error.status_code)
        return codes

    first = run()
    assert first == run()
    assert set(first) == {201, 500}
    assert len(sim.messages()) == 2 * first.count(201)


def test_the_500_and_503_bodies(sim: SimulatorServer, client: NotificationsAPIClient, template_id: str) -> None:
    sim.set_faults(error_next=1, unavailable_next=1)
    with pytest.raises(HTTPError) as info:
        send(client, template_id)
    assert info.value.status_code == 500
    assert info.value.message == [{"error": "SimulatedServerError", "message": "Internal server error"}]
    with pytest.raises(HTTP503Error):
        send(client, template_id)
    send(client, template_id)
    assert len(sim.messages()) == 1


def test_force_429(sim: SimulatorServer, client: NotificationsAPIClient, template_id: str) -> None:
    sim.set_faults(force_429=2)
    for _ in range(2):
        with pytest.raises(HTTPError) as info:
            send(client, template_id)
        assert info.value.status_code == 429
        assert info.value.message[0]["error"] == "RateLimitError"  # type: ignore[index]
    send(client, template_id)


def test_latency(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    sim.set_faults(latency=0.2)
    started = time.monotonic()
    client.get_all_templates()
    assert time.monotonic() - started >= 0.2


def test_hang_after_store_keeps_the_notification(sim: SimulatorServer, make_client: object,
                                                 template_id: str) -> None:
    sim.set_faults(hang_next=1, hang_seconds=1.0, hang_when="after_store")
    client = NotificationsAPIClient(sim.api_key(), base_url=sim.url, timeout=0.3)
    with pytest.raises(HTTPError) as info:
        client.send_email_notification("a@example.com", template_id, {"name": "A"}, reference="lost")
    assert isinstance(info.value.__cause__, requests.Timeout)
    [message] = sim.messages(reference="lost")
    sim.wait_for_status(message["id"], "delivered")


def test_hang_before_store_keeps_nothing(sim: SimulatorServer, template_id: str) -> None:
    sim.set_faults(hang_next=1, hang_seconds=0.6, hang_when="before_store")
    client = NotificationsAPIClient(sim.api_key(), base_url=sim.url, timeout=0.2)
    with pytest.raises(HTTPError):
        client.send_email_notification("a@example.com", template_id, {"name": "A"})
    time.sleep(0.6)
    assert sim.messages() == []


def test_drop_callbacks(sim: SimulatorServer, receiver: Receiver, client: NotificationsAPIClient,
                        template_id: str) -> None:
    sim.set_callbacks(delivery_status=(receiver.url, CALLBACK_TOKEN))
    sim.set_faults(drop_callbacks=True)
    send(client, template_id)
    [attempt] = sim.wait_for_callbacks(1)
    assert attempt["result"] == "dropped"
    time.sleep(0.1)
    assert receiver.requests == []


def test_faults_over_http(sim: SimulatorServer) -> None:
    merged = requests.post(f"{sim.url}/_simulator/faults", json={"error_rate": 0.25, "seed": 1}, timeout=5).json()
    assert merged["error_rate"] == 0.25 and merged["seed"] == 1
    again = requests.post(f"{sim.url}/_simulator/faults", json={"latency": 0.01}, timeout=5).json()
    assert again["error_rate"] == 0.25 and again["latency"] == 0.01
    bad = requests.post(f"{sim.url}/_simulator/faults", json={"error_rate": "lots"}, timeout=5)
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]
    cleared = requests.delete(f"{sim.url}/_simulator/faults", timeout=5).json()
    assert cleared["error_rate"] == 0.0 and cleared["latency"] == 0.0


def test_faults_from_the_config() -> None:
    with SimulatorServer({"faults": {"force_429": "always"}}) as sim:
        template = sim.add_template(name="T", subject="S", body="B")
        with pytest.raises(HTTPError) as info:
            NotificationsAPIClient(sim.api_key(), base_url=sim.url).send_email_notification("a@example.com", template)
        assert info.value.status_code == 429


def test_rate_limit_rate_answers_a_share_with_429(sim: SimulatorServer, client: NotificationsAPIClient,
                                                  template_id: str) -> None:
    sim.set_faults(seed=7, rate_limit_rate=0.5)
    statuses = []
    for _ in range(40):
        try:
            client.send_email_notification("someone@example.com", template_id, {"name": "x"})
            statuses.append(201)
        except HTTPError as error:
            statuses.append(error.status_code)
            assert error.message[0]["error"] == "RateLimitError"
    assert set(statuses) == {201, 429}
    assert 8 <= statuses.count(429) <= 32


@pytest.mark.parametrize(
    ("raw", "knob", "allowed"),
    [
        ('{"latency": 1e400}', "latency", "from 0 to 3600"),
        ('{"latency": NaN}', "latency", "from 0 to 3600"),
        ('{"latency": -Infinity}', "latency", "from 0 to 3600"),
        ('{"latency": 3601}', "latency", "from 0 to 3600"),
        ('{"hang_seconds": 1e12}', "hang_seconds", "from 0 to 3600"),
        ('{"hang_seconds": "35"}', "hang_seconds", "from 0 to 3600"),
        ('{"error_rate": NaN}', "error_rate", "from 0 to 1"),
        ('{"rate_limit_rate": Infinity}', "rate_limit_rate", "from 0 to 1"),
        ('{"drop_callbacks": NaN}', "drop_callbacks", "from 0 to 1"),
        ('{"error_next": 1e400}', "error_next", "from 0 to 1000000"),
        ('{"error_next": 10000001}', "error_next", "from 0 to 1000000"),
        ('{"hang_next": 1.5}', "hang_next", "from 0 to 1000000"),
        ('{"force_429": -1}', "force_429", "from 0 to 1000000"),
        ('{"seed": 1e400}', "seed", "from"),
        ('{"seed": ' + "9" * 30 + "}", "seed", "from"),
        ('{"bucket_tokens": 1001}', "bucket_tokens", "from 0 to 1000"),
        ('{"bucket_tokens": true}', "bucket_tokens", "from 0 to 1000"),
        ('{"error_when": "later"}', "error_when", "'after_store' or 'before_store'"),
        ('{"hang_when": null}', "hang_when", "'after_store' or 'before_store'"),
    ],
)
def test_knobs_outside_their_range_are_a_400_naming_the_knob_and_range(sim: SimulatorServer, raw: str, knob: str,
                                                                       allowed: str) -> None:
    before = requests.get(f"{sim.url}/_simulator/faults", timeout=5).json()
    response = requests.post(f"{sim.url}/_simulator/faults", data=raw, timeout=5)
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith(f"{knob}: must be") and allowed in message
    assert requests.get(f"{sim.url}/_simulator/faults", timeout=5).json() == before
    assert requests.get(f"{sim.url}/v2/templates", timeout=5,
                        headers={"Authorization": f"Bearer {token_for(sim.api_key())}"}).status_code == 200


def test_a_bad_knob_changes_none_of_the_others(sim: SimulatorServer) -> None:
    response = requests.post(f"{sim.url}/_simulator/faults", json={"error_next": 1, "latency": 1e300}, timeout=5)
    assert response.status_code == 400
    assert requests.get(f"{sim.url}/_simulator/faults", timeout=5).json()["error_next"] == 0


def test_an_error_after_store_keeps_the_notification(sim: SimulatorServer, client: NotificationsAPIClient,
                                                     template_id: str) -> None:
    sim.set_faults(error_next=1, unavailable_next=1, error_when="after_store")
    with pytest.raises(HTTPError) as info:
        send(client, template_id)
    assert info.value.status_code == 500
    with pytest.raises(HTTP503Error):
        send(client, template_id)
    assert len(sim.messages()) == 2


def test_an_error_after_store_spares_requests_that_store_nothing(sim: SimulatorServer,
                                                                 client: NotificationsAPIClient) -> None:
    sim.set_faults(error_next=1, error_when="after_store")
    with pytest.raises(HTTPError) as info:
        client.send_email_notification("a@example.com", "00000000-0000-4000-8000-000000000000")
    assert info.value.status_code == 400
    assert sim.set_faults()["error_next"] == 1


def test_stats_count_429s_and_notifications_until_reset(sim: SimulatorServer, client: NotificationsAPIClient,
                                                        template_id: str) -> None:
    service = sim.add_service(name="Daily", email_message_limit=1, api_keys=[{"type": "normal"}])
    template = sim.add_template(service["id"], name="T", subject="S", body="B")
    live = NotificationsAPIClient(service["api_keys"][0]["key"], base_url=sim.url)
    live.send_email_notification("a@example.com", template)
    for _ in range(2):
        with pytest.raises(HTTPError):
            live.send_email_notification("a@example.com", template)
    sim.set_faults(force_429=1)
    with pytest.raises(HTTPError):
        send(client, template_id)
    send(client, template_id)
    client.send_email_notification("simulate-delivered@notifications.service.gov.uk", template_id, {"name": "S"})
    stats = requests.get(f"{sim.url}/_simulator/stats", timeout=5).json()
    assert stats == {"rate_limited": 1, "daily_limited": 2, "notifications": 2}
    assert sim.stats == stats
    requests.post(f"{sim.url}/_simulator/reset", timeout=5).raise_for_status()
    assert requests.get(f"{sim.url}/_simulator/stats", timeout=5).json() == {
        "rate_limited": 0, "daily_limited": 0, "notifications": 0}
