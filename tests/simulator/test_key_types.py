"""Key types, trial mode and smoke-test addresses (NOTIFY_API.md §5, §6.1)."""

from __future__ import annotations

import pytest
from notifications_python_client import NotificationsAPIClient
from notifications_python_client.errors import HTTPError

from flask_dm_email.simulator import SimulatorServer

from .helpers import call, v2_error

TEAM_MESSAGE = "Can\u2019t send to this recipient using a team-only API key"
TRIAL_MESSAGE = ("Can\u2019t send to this recipient when service is in trial mode \u2013 see "
                 "https://www.notifications.service.gov.uk/trial-mode")
SMOKE = "simulate-delivered@notifications.service.gov.uk"


@pytest.fixture
def trial(sim: SimulatorServer) -> dict[str, str]:
    service = sim.add_service(name="Trial", restricted=True, team_members=["member@gov.uk"],
                              guest_list=["Guest@Example.com"],
                              api_keys=[{"type": "test"}, {"type": "team"}, {"type": "normal"}])
    template = sim.add_template(service["id"], name="T", subject="S", body="B")
    keys = {item["type"]: item["key"] for item in service["api_keys"]}
    return {"template": template, **keys}


def send(sim: SimulatorServer, key: str, template: str, to: str) -> dict[str, object]:
    return dict(NotificationsAPIClient(key, base_url=sim.url).send_email_notification(to, template))


def refused(sim: SimulatorServer, key: str, template: str, to: str) -> str:
    with pytest.raises(HTTPError) as info:
        send(sim, key, template, to)
    assert info.value.status_code == 400
    [error] = info.value.message  # type: ignore[misc]
    assert error["error"] == "BadRequestError"
    return str(error["message"])


def test_team_keys_reach_only_team_and_guest_list(sim: SimulatorServer, trial: dict[str, str]) -> None:
    send(sim, trial["team"], trial["template"], "MEMBER@gov.uk ")
    send(sim, trial["team"], trial["template"], "guest@example.com")
    assert refused(sim, trial["team"], trial["template"], "stranger@gov.uk") == TEAM_MESSAGE


def test_team_keys_are_limited_on_live_services_too(sim: SimulatorServer) -> None:
    template = sim.add_template(name="Plain", subject="S", body="B")
    assert refused(sim, sim.api_key("team"), template, "stranger@gov.uk") == TEAM_MESSAGE


def test_live_keys_in_trial_mode(sim: SimulatorServer, trial: dict[str, str]) -> None:
    send(sim, trial["normal"], trial["template"], "member@gov.uk")
    assert refused(sim, trial["normal"], trial["template"], "stranger@gov.uk") == TRIAL_MESSAGE


def test_the_trial_message_bytes(sim: SimulatorServer, trial: dict[str, str]) -> None:
    body = {"email_address": "stranger@gov.uk", "template_id": trial["template"]}
    response = call(sim, "POST", "/v2/notifications/email", key=trial["normal"], json=body)
    assert b"Can\\u2019t send to this recipient when service is in trial mode \\u2013 see" in response.content
    v2_error(response, 400, "BadRequestError", TRIAL_MESSAGE)


def test_test_keys_reach_anyone_even_in_trial_mode(sim: SimulatorServer, trial: dict[str, str]) -> None:
    send(sim, trial["test"], trial["template"], "stranger@gov.uk")


def test_live_keys_on_live_services_reach_anyone(sim: SimulatorServer, template_id: str) -> None:
    client = NotificationsAPIClient(sim.api_key("normal"), base_url=sim.url)
    client.send_email_notification("stranger@gov.uk", template_id, {"name": "A"})


class TestSmokeTestAddresses:
    @pytest.mark.parametrize("address", [SMOKE, "simulate-delivered-2@notifications.service.gov.uk",
                                         "Simulate-Delivered-3@Notifications.Service.Gov.UK"])
    def test_201_but_nothing_stored(self, sim: SimulatorServer, client: NotificationsAPIClient, template_id: str,
                                    address: str) -> None:
        response = client.send_email_notification(address, template_id, {"name": "A"})
        assert response["content"]["subject"] == "Hello A"
        assert sim.messages() == []
        v2_error(call(sim, "GET", f"/v2/notifications/{response['id']}", key=sim.api_key()), 404, "NoResultFound",
                 "No result found")
        assert client.get_all_notifications()["notifications"] == []

    def test_still_validated(self, sim: SimulatorServer, client: NotificationsAPIClient) -> None:
        with pytest.raises(HTTPError) as info:
            client.send_email_notification(SMOKE, "00000000-0000-4000-8000-000000000000")
        assert info.value.message == [{"error": "BadRequestError", "message": "Template not found"}]

    def test_team_keys_are_still_refused(self, sim: SimulatorServer, trial: dict[str, str]) -> None:
        # The recipient check runs before the simulated check in Notify's code.
        assert refused(sim, trial["team"], trial["template"], SMOKE) == TEAM_MESSAGE
        assert refused(sim, trial["normal"], trial["template"], SMOKE) == TRIAL_MESSAGE

    def test_not_counted_against_the_daily_limit(self, sim: SimulatorServer) -> None:
        service = sim.add_service(name="Tiny", email_message_limit=1, api_keys=[{"type": "normal"}])
        template = sim.add_template(service["id"], name="T", subject="S", body="B")
        key = service["api_keys"][0]["key"]
        for _ in range(3):
            send(sim, key, template, SMOKE)
        send(sim, key, template, "a@example.com")
