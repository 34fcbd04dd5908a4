"""Fixtures for the simulator's tests: a running simulator, clients, a callback receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, request
from notifications_python_client import NotificationsAPIClient
from werkzeug.serving import make_server

from flask_dm_email.simulator import SimulatorServer

DELIVERY_DELAY = 0.02
RETRY_DELAY = 0.05
CALLBACK_TOKEN = "callback-token-1234567890"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A zero-config simulator on a free port with quick deliveries and retries."""
    with SimulatorServer(delivery_delay=DELIVERY_DELAY, callback_retry_delay=RETRY_DELAY) as server:
        yield server


@pytest.fixture
def template_id(sim: SimulatorServer) -> str:
    """An email template in the default service."""
    return sim.add_template(name="Welcome", subject="Hello ((name))", body="Dear ((name)),\n\nWelcome.")


@pytest.fixture
def make_client(sim: SimulatorServer) -> Callable[..., NotificationsAPIClient]:
    """Build the unchanged Notify client for a key type (or a given key) of a service."""

    def build(key_type: str = "test", service_id: str | None = None, key: str | None = None,
              timeout: float = 5) -> NotificationsAPIClient:
        api_key = key or sim.api_key(key_type, service_id)
        return NotificationsAPIClient(api_key, base_url=sim.url, timeout=timeout)

    return build


@pytest.fixture
def client(make_client: Callable[..., NotificationsAPIClient]) -> NotificationsAPIClient:
    """A client with the default service's test key."""
    return make_client("test")


@dataclass
class Receiver:
    """A real HTTP server standing in for the app Notify calls back."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond_with(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, then 200."""
        with self.lock:
            self.statuses[:] = list(statuses)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far."""
        with self.lock:
            return [json.loads(item["body"]) for item in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A callback receiver on a free port that records every request."""
    app = Flask("callback-receiver")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    state = Receiver(url=f"http://127.0.0.1:{server.server_port}/callback")

    @app.post("/callback")
    def callback() -> Response:
        with state.lock:
            state.requests.append({"body": request.get_data(as_text=True), "headers": dict(request.headers)})
            status = state.statuses.pop(0) if state.statuses else 200
        return Response("{}", status=status, mimetype="application/json")

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)
