"""Status lifecycle, test-key magic addresses, SES simulator addresses and bouncing config."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from notifications_python_client import NotificationsAPIClient

from flask_dm_email.simulator import SimulatorServer


def test_created_then_sending_then_delivered(sim: SimulatorServer, client: NotificationsAPIClient,
                                             template_id: str) -> None:
    sim.state.delivery_delay = 0.3
    response = client.send_email_notification("a@example.com", template_id, {"name": "A"})
    first = client.get_notification_by_id(response["id"])
    assert first["status"] == "created"
    assert first["sent_at"] is None and first["completed_at"] is None
    sim.wait_for_status(response["id"], "sending")
    sending = client.get_notification_by_id(response["id"])
    assert sending["sent_at"] is not None and sending["completed_at"] is None
    final = sim.wait_for_status(response["id"], "delivered")
    assert [step["status"] for step in final["status_history"]] == ["created", "sending", "delivered"]
    done = client.get_notification_by_id(response["id"])
    assert done["completed_at"] == final["status_history"][-1]["at"]
    assert done["created_at"] < done["sent_at"] < done["completed_at"]


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("perm-fail@simulator.notify", "permanent-failure"),
        ("temp-fail@simulator.notify", "temporary-failure"),
        ("delivered@simulator.notify", "delivered"),
        ("Perm-Fail@simulator.notify", "delivered"),  # Notify compares the stored address exactly
        ("anyone@example.com", "delivered"),
    ],
)
def test_test_key_magic_addresses(sim: SimulatorServer, client: NotificationsAPIClient, template_id: str,
                                  address: str, status: str) -> None:
    response = client.send_email_notification(address, template_id, {"name": "A"})
    sim.wait_for_status(response["id"], status)


@pytest.mark.parametrize("key_type", ["team", "normal"])
def test_live_and_team_keys_ignore_the_test_key_addresses(
    sim: SimulatorServer, make_client: Callable[..., NotificationsAPIClient], template_id: str, key_type: str
) -> None:
    # Team keys may only send to the guest list, so put the addresses on it.
    service = sim.state.service()
    service.guest_list.extend(["perm-fail@simulator.notify", "temp-fail@simulator.notify"])
    client = make_client(key_type)
    for address in ("perm-fail@simulator.notify", "temp-fail@simulator.notify"):
        response = client.send_email_notification(address, template_id, {"name": "A"})
        sim.wait_for_status(response["id"], "delivered")


@pytest.mark.parametrize(
    ("address", "status", "complaint"),
    [
        ("success@simulator.amazonses.com", "delivered", False),
        ("bounce@simulator.amazonses.com", "permanent-failure", False),
        ("ooto@simulator.amazonses.com", "delivered", False),
        ("complaint@simulator.amazonses.com", "delivered", True),
        ("suppressionlist@simulator.amazonses.com", "permanent-failure", False),
    ],
)
def test_ses_mailbox_simulator_for_live_keys(
    sim: SimulatorServer, make_client: Callable[..., NotificationsAPIClient], template_id: str,
    address: str, status: str, complaint: bool,
) -> None:
    response = make_client("normal").send_email_notification(address, template_id, {"name": "A"})
    message = sim.wait_for_status(response["id"], status)
    if complaint:
        # The complaint is recorded in the same step as the final status.
        assert len(sim.message(response["id"])["complaints"]) == 1  # type: ignore[index]
    else:
        assert message["complaints"] == []


def test_ses_addresses_mean_nothing_special_to_test_keys(sim: SimulatorServer, client: NotificationsAPIClient,
                                                         template_id: str) -> None:
    response = client.send_email_notification("bounce@simulator.amazonses.com", template_id, {"name": "A"})
    sim.wait_for_status(response["id"], "delivered")


def test_bouncing_addresses_and_domains_from_the_config() -> None:
    config = {
        "bouncing_addresses": ["gone@example.com"],
        "bouncing_domains": ["nowhere.example"],
        "services": [{"name": "S", "api_keys": [{"type": "test"}, {"type": "normal"}],
                      "templates": [{"id": "33333333-3333-4333-8333-333333333333", "name": "T", "subject": "S",
                                     "body": "B"}]}],
    }
    with SimulatorServer(config, delivery_delay=0.01) as sim:
        for key_type in ("test", "normal"):
            client = NotificationsAPIClient(sim.api_key(key_type), base_url=sim.url)
            for address in ("Gone@example.com", "x@NOWHERE.example"):
                response = client.send_email_notification(address, "33333333-3333-4333-8333-333333333333")
                sim.wait_for_status(response["id"], "permanent-failure")
            fine = client.send_email_notification("fine@example.com", "33333333-3333-4333-8333-333333333333")
            sim.wait_for_status(fine["id"], "delivered")
