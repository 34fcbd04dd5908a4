"""Config files, zero-config mode, the admin API and the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from notifications_python_client import NotificationsAPIClient

from flask_dm_email.simulator import (
    ZERO_CONFIG_KEYS,
    ZERO_CONFIG_SERVICE_ID,
    SimulatorConfigError,
    SimulatorServer,
    load_config,
)
from flask_dm_email.simulator.__main__ import parse_args

SERVICE = {
    "id": "44444444-4444-4444-8444-444444444444",
    "name": "Apply for a thing",
    "restricted": False,
    "email_sender_local_part": "apply",
    "rate_limit": 100,
    "email_message_limit": 10,
    "api_keys": [{"name": "ci", "type": "test", "secret": "55555555-5555-4555-8555-555555555555"}],
    "team_members": ["team@example.gov.uk"],
    "guest_list": ["guest@example.gov.uk"],
    "reply_to": [{"id": "66666666-6666-4666-8666-666666666666", "email_address": "help@example.gov.uk"}],
    "templates": [{"id": "77777777-7777-4777-8777-777777777777", "name": "Welcome", "type": "email",
                   "subject": "Hi", "body": "Hello", "version": 3}],
    "callbacks": {"delivery_status": {"url": "https://app.example/cb", "bearer_token": "0123456789"}},
}
KEY = f"ci-{SERVICE['id']}-55555555-5555-4555-8555-555555555555"


def test_zero_config_keys_are_documented_constants() -> None:
    assert ZERO_CONFIG_SERVICE_ID == "7c0ffee0-5e4d-4a11-9e0e-d0c5a1a10ca1"
    assert set(ZERO_CONFIG_KEYS) == {"test", "team", "normal"}
    for key in ZERO_CONFIG_KEYS.values():
        assert key[-73:-37] == ZERO_CONFIG_SERVICE_ID
    [service] = load_config(None).services
    assert service.name == "Local development" and service.templates == {}


def test_zero_config_keys_work() -> None:
    with SimulatorServer() as sim:
        for key in ZERO_CONFIG_KEYS.values():
            assert NotificationsAPIClient(key, base_url=sim.url).get_all_templates() == {"templates": []}


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_config_files(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"sim{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"services": [SERVICE], "delivery_delay": 0.01}))
    else:
        path.write_text(
            'delivery_delay = 0.01\n[[services]]\nid = "44444444-4444-4444-8444-444444444444"\n'
            'name = "Apply for a thing"\nemail_sender_local_part = "apply"\n'
            '[[services.api_keys]]\nname = "ci"\ntype = "test"\nsecret = "55555555-5555-4555-8555-555555555555"\n'
            '[[services.templates]]\nid = "77777777-7777-4777-8777-777777777777"\nname = "Welcome"\n'
            'subject = "Hi"\nbody = "Hello"\nversion = 3\n'
        )
    with SimulatorServer(path) as sim:
        client = NotificationsAPIClient(KEY, base_url=sim.url)
        sent = client.send_email_notification("a@example.com", "77777777-7777-4777-8777-777777777777")
        assert sent["template"]["version"] == 3
        assert sent["content"]["from_email"] == "apply@notifications.service.gov.uk"
        sim.wait_for_status(sent["id"], "delivered")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "services[0].name: is required"),
        ({"id": "nope"}, "services[0].id: must be a UUID"),
        ({"restricted": "yes"}, "services[0].restricted: must be true or false"),
        ({"rate_limit": True}, "services[0].rate_limit: must be an integer, not a boolean"),
        ({"api_keys": [{"type": "live"}]}, "services[0].api_keys[0].type: must be one of normal, team, test"),
        ({"team_members": ["not an email"]}, "services[0].team_members[0]: must be an email address"),
        ({"templates": [{"name": "T", "body": "B"}]}, "services[0].templates[0].subject: is required"),
        ({"callbacks": {"delivery_status": {"url": "https://x", "bearer_token": "short"}}},
         "services[0].callbacks.delivery_status.bearer_token: must be at least 10 characters"),
        ({"callbacks": {"other": {}}}, "services[0].callbacks.other: unknown callback"),
        ({"api_keys": [{"type": "test", "revoked_at": "yesterday"}]}, "services[0].api_keys[0].revoked_at"),
    ],
)
def test_config_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SimulatorConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_config({"services": [{**SERVICE, **change}]})


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SimulatorConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(SimulatorConfigError, match="not valid"):
        load_config(broken)


def test_secrets_never_appear_in_config_errors() -> None:
    with pytest.raises(SimulatorConfigError) as info:
        load_config({"services": [{**SERVICE, "api_keys": [{"type": "x", "secret": "my-secret-value"}]}]})
    assert "my-secret-value" not in str(info.value)


def test_trial_services_default_to_a_50_a_day_limit() -> None:
    config = load_config({"services": [{"name": "Trial", "restricted": True}, {"name": "Live"}]})
    assert [service.email_message_limit for service in config.services] == [50, 250_000]


def test_admin_api(sim: SimulatorServer) -> None:
    base = f"{sim.url}/_simulator"
    service = requests.post(f"{base}/services", json={"name": "Admin made"}, timeout=5).json()
    key = requests.post(f"{base}/services/{service['id']}/api-keys", json={"type": "normal"}, timeout=5).json()["key"]
    template = requests.post(f"{base}/services/{service['id']}/templates",
                             json={"name": "T", "subject": "S", "body": "B"}, timeout=5).json()
    assert template["version"] == 1
    updated = requests.post(f"{base}/services/{service['id']}/templates",
                            json={"id": template["id"], "body": "B2"}, timeout=5).json()
    assert updated == {"id": template["id"], "version": 2}
    client = NotificationsAPIClient(key, base_url=sim.url)
    sent = client.send_email_notification("a@example.com", template["id"])
    assert sent["content"]["body"] == "B2"
    complaint = requests.post(f"{base}/notifications/{sent['id']}/complaint", timeout=5)
    assert complaint.status_code == 201
    assert requests.post(f"{base}/notifications/00000000-0000-4000-8000-000000000000/complaint",
                         timeout=5).status_code == 404
    callbacks = requests.post(f"{base}/services/{service['id']}/callbacks",
                              json={"delivery_status": {"url": "http://x.test/cb", "bearer_token": "0123456789"}},
                              timeout=5).json()
    # Local only, like the full keys: an app sharing the simulator reads the token its receipts carry.
    assert callbacks == {"delivery_status": {"url": "http://x.test/cb", "bearer_token": "0123456789"}}
    assert requests.post(f"{base}/services", json={"restricted": True}, timeout=5).json() == {
        "error": "service.name: is required"}
    revoked = requests.post(f"{base}/services/{service['id']}/api-keys/revoke", json={"key": key}, timeout=5)
    assert revoked.status_code == 200
    listed = requests.get(f"{base}/services", timeout=5).json()["services"]
    assert [item["name"] for item in listed] == ["Local development", "Admin made"]
    assert requests.post(f"{base}/reset", timeout=5).json() == {"reset": True}
    assert sim.messages() == []
    assert [item["name"] for item in requests.get(f"{base}/services", timeout=5).json()["services"]] == [
        "Local development"]


def test_handle_reset_clears_messages_and_faults(sim: SimulatorServer, client: NotificationsAPIClient,
                                                 template_id: str) -> None:
    client.send_email_notification("a@example.com", template_id, {"name": "A"})
    sim.set_faults(latency=1)
    sim.reset()
    assert sim.messages() == []
    assert sim.set_faults()["latency"] == 0.0


def test_command_line_options() -> None:
    args = parse_args(["--config", "x.json", "--port", "7000", "--delivery-delay", "0.1",
                       "--callback-retry-delay", "2", "--callback-url", "http://a/cb", "--callback-token", "t" * 10])
    assert (args.config, args.host, args.port, args.delivery_delay, args.callback_retry_delay) == (
        "x.json", "127.0.0.1", 7000, 0.1, 2.0)
    assert parse_args([]).config is None


def test_python_dash_m_serves_until_stopped(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "flask_dm_email.simulator", "--port", str(port), "--delivery-delay", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert requests.get(f"http://127.0.0.1:{port}/_status", timeout=1).json() == {"status": "ok"}
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        client = NotificationsAPIClient(ZERO_CONFIG_KEYS["test"], base_url=f"http://127.0.0.1:{port}")
        assert client.get_all_templates() == {"templates": []}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    for key in ZERO_CONFIG_KEYS.values():
        assert key[-36:].encode() not in stderr


def test_python_dash_m_refuses_a_bad_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.json"
    path.write_text('{"services": [{"name": 5}]}')
    result = subprocess.run(
        [sys.executable, "-m", "flask_dm_email.simulator", "--config", str(path)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 2
    assert "services[0].name: must be a string" in result.stderr


def test_a_busy_port_raises_oserror_instead_of_exiting() -> None:
    import pytest

    from flask_dm_email.simulator import SimulatorServer

    with SimulatorServer() as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match=f"port {port}"):
            SimulatorServer(port=port).start()
        assert first.messages() == []  # the first one is unharmed
