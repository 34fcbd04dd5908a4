"""``flask dm-email simulator`` with an adopter's own app, as a new user runs it: in a
subprocess, over real HTTP, with the lines it prints pasted into the environment."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .cli_sim_app import WELCOME

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).with_name("flask"))
APP = "tests.cli_sim_app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, "--app", APP, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True, text=True, timeout=60,
    )


@dataclass
class Running:
    url: str
    process: subprocess.Popen[str]
    banner: list[str]

    def env_lines(self) -> dict[str, str]:
        """The ``NAME=value`` lines it told the user to paste into .env."""
        pairs = (line.split("=", 1) for line in self.banner if re.fullmatch(r"DM_[A-Z_]+=\S+", line))
        return {name: value for name, value in pairs}


@pytest.fixture
def simulator() -> Iterator[Running]:
    port = free_port()
    process = subprocess.Popen(
        [FLASK, "--app", APP, "dm-email", "simulator", "--port", str(port), "--delivery-delay", "0.05"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 30
    while not banner or banner[-1] != "Press CTRL+C to stop the simulator.":
        line = process.stdout.readline()
        assert line or process.poll() is None, "".join(banner)
        assert time.monotonic() < deadline, "".join(banner)
        banner.append(line.rstrip("\n"))
    try:
        yield Running(f"http://127.0.0.1:{port}", process, banner)
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_it_prints_the_exact_env_lines_and_the_app_sends_through_them(simulator: Running) -> None:
    text = "\n".join(simulator.banner)
    assert "Traceback" not in text and "WARNING" not in text
    env = simulator.env_lines()
    assert env["DM_NOTIFY_BASE_URL"] == simulator.url
    assert env["DM_NOTIFY_KEY"].startswith("local-test-")  # a test key: Notify's test addresses work
    assert "not of GOV.UK Notify: no secret" in text  # labelled as the simulator's own key
    assert "Templates: welcome (from DM_NOTIFY_TEMPLATES" in text
    # Paste the lines into the app's environment, as a user pastes them into .env.
    sent = flask("dm-email", "send-test", "--to", "alex@example.com", "--template", "welcome",
                 "-p", "name=Alex", env=env)
    assert sent.returncode == 0, sent.stderr
    assert f"Notify: the local Notify simulator at {simulator.url}" in sent.stdout
    [message] = requests.get(f"{simulator.url}/_simulator/messages", timeout=5).json()["messages"]
    assert message["template"]["id"] == WELCOME and "* name: Alex" in message["body"]
    config = flask("dm-email", "config", env=env)
    assert f"Notify: the local Notify simulator at {simulator.url}" in config.stdout


def test_an_unknown_template_says_how_to_add_one(simulator: Running) -> None:
    missing = "11111111-1111-4111-8111-111111111111"
    sent = flask("dm-email", "send-test", "--to", "a@example.com", "--template", missing, env=simulator.env_lines())
    assert sent.returncode == 1
    assert "Template not found" in sent.stderr
    assert "POST /_simulator/services/<service id>/templates" in sent.stderr
    assert "Traceback" not in sent.stderr


def test_a_second_simulator_on_the_port_points_at_the_first(simulator: Running) -> None:
    port = simulator.url.rsplit(":", 1)[1]
    second = flask("dm-email", "simulator", "--port", port)
    assert second.returncode == 1
    assert f"A Notify simulator is already running at {simulator.url}" in second.stdout


def test_an_app_that_sends_nothing_is_told_about_the_running_simulator() -> None:
    # The log backend (no key) on development: config points at the well-known port, if ours is there.
    config = flask("dm-email", "config")
    assert "Notify: not used (the log backend sends nothing)" in config.stdout
