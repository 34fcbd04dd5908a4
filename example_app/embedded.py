"""The local Notify simulator for the example app when there is no Notify key: the one
already running on ``EXAMPLE_SIMULATOR_PORT`` (6011), else one started in this process.

One simulator for every command: while ``flask run`` serves one, ``flask dm-email
send-test``, ``config``, ``outbox status``, ``worker`` and ``demo`` find it (checked at
``GET /_simulator/identity``: some other server on the port is never used) instead of
starting their own, so every email lands in the one inbox the user has open.

The example is a service of its own on that simulator (:data:`EXAMPLE_SERVICE_ID`), with
its templates, a *test* key (so Notify's magic test addresses work) and callbacks to the
app with a bearer token. Every process of the example reads the key and token from the
simulator over its admin API, so they all agree; the first one to arrive registers them.

Under ``flask run --debug`` Werkzeug's reloader loads the app twice — in the parent process
that watches the files, and again in each child that serves. The parent connects (or starts
the simulator) and hands its address, key and token to the children through the
environment, so a code reload keeps the inbox and nothing binds the port twice.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from flask import Config, Flask
from werkzeug.serving import is_running_from_reloader

from flask_dm_email.config import Stage, read_raw_settings
from flask_dm_email.config_keys import DEFAULT_CALLBACK_PREFIX, DM_NOTIFY_CALLBACK_PREFIX, DM_NOTIFY_KEY
from flask_dm_email.local_simulator import find_simulator
from flask_dm_email.simulator import SimulatorServer

logger = logging.getLogger("example_app")

#: Set by the process that started the simulator, read by Werkzeug's reloader children.
HANDOVER_VARIABLE = "EXAMPLE_EMBEDDED_SIMULATOR_HANDOVER"

#: The example's own service on the simulator (the zero-config one is left to other apps).
EXAMPLE_SERVICE_ID = "e8a3b1e0-0e4a-4c5e-9a11-5e771ce0ca5e"
EXAMPLE_SERVICE_NAME = "Example service"

WELCOME_TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
RESET_TEMPLATE_ID = "0d1d5bd8-6bd5-4dbc-bc1e-7b02e4c4bd0c"
NOTICE_TEMPLATE_ID = "5b0c2f7e-8d51-4a0e-9c3b-6f1e2d7a9b40"
TEMPLATES = [
    {
        "id": WELCOME_TEMPLATE_ID,
        "name": "Welcome",
        "subject": "Welcome to the example service, ((name))",
        "body": "# Welcome\n\nHello ((name)),\n\nYour account is ready. Sign in at ((link))\n\n"
        "^ You are getting this email because you signed up.\n\nThe example service team",
    },
    {
        "id": RESET_TEMPLATE_ID,
        "name": "Password reset",
        "subject": "Reset your password",
        "body": "Hello ((name)),\n\nTo reset your password:\n\n1. open ((reset_link))\n2. choose a new "
        "password\n\nThe link works for one hour.\n\n---\n\nIf you did not ask for this, ignore this email.",
    },
    {
        "id": NOTICE_TEMPLATE_ID,
        "name": "Notice to all users",
        "subject": "A notice from the example service",
        "body": "Hello ((name)),\n\n((notice))\n\n^ You are getting this email because you have an account.\n\n"
        "The example service team",
    },
]


@dataclass(frozen=True)
class Embedded:
    """Where the embedded simulator is and how the app talks to it."""

    url: str
    key: str = field(repr=False)
    token: str = field(repr=False)
    #: True when another process runs it (``flask run``, say), False when this one started it.
    shared: bool = False

    @property
    def inbox_url(self) -> str:
        return f"{self.url}/_simulator/inbox"


# port -> (the simulator if this process runs it, how to reach it); port 0 (tests) always
# gets a fresh simulator.
_running: dict[int, tuple[SimulatorServer | None, Embedded]] = {}


def wanted(app: Flask) -> bool:
    """Whether ``app`` should run on the embedded simulator: on development, with no key.

    The extension's own reader decides, so a key in the environment, in ``app.config`` or
    in ``.env`` (under either spelling) counts exactly as ``init_app`` will count it.
    """
    if not app.config["EXAMPLE_EMBEDDED_SIMULATOR"]:
        return False
    raw, _, _ = read_raw_settings(app.config, os.environ, testing=app.testing)
    return raw.stage is Stage.DEVELOPMENT and not raw.values.get(DM_NOTIFY_KEY)


def callback_url(app: Flask) -> str:
    """The app's delivery-receipt endpoint, as the simulator must call it."""
    raw, _, _ = read_raw_settings(app.config, os.environ, testing=app.testing)
    prefix = str(raw.values.get(DM_NOTIFY_CALLBACK_PREFIX) or DEFAULT_CALLBACK_PREFIX).rstrip("/")
    return f"{app.config['EXAMPLE_APP_URL'].rstrip('/')}{prefix}/notify"


def setup(app: Flask) -> Embedded | None:
    """Connect to (or start) the simulator if ``app`` wants one, and point ``app.config`` at
    it. Call before ``dm_email.init_app(app)``: the extension reads its settings there."""
    if not wanted(app):
        return None
    handover = os.environ.get(HANDOVER_VARIABLE)
    if handover and is_running_from_reloader():
        # A reloader child: the parent process connected and keeps the simulator across reloads.
        embedded = Embedded(**json.loads(handover))
    else:
        simulator, embedded = connect(app.config["EXAMPLE_SIMULATOR_PORT"], callback_url(app))
        if simulator is not None:
            app.extensions["example_simulator"] = simulator
        if app.config["EXAMPLE_SIMULATOR_PORT"]:
            os.environ[HANDOVER_VARIABLE] = json.dumps(asdict(embedded))
    configure(app.config, embedded)
    if app.logger.level == logging.NOTSET:  # on a laptop, show the app's INFO lines, as the extension does
        app.logger.setLevel(logging.INFO)
    app.logger.info(
        "No DM_NOTIFY_KEY: sending through the local Notify simulator at %s (%s); read the emails at %s",
        embedded.url,
        "already running: shared with the other commands" if embedded.shared else "started here",
        embedded.inbox_url,
    )
    return embedded


def connect(port: int, callback: str) -> tuple[SimulatorServer | None, Embedded]:
    """The simulator on ``port`` if one is running there, else a new one (on ``port``, or a
    free port if something else holds it); with the example's service on it.

    Returns the simulator when this process runs it (``None`` when another does). Once per
    port and process; port 0 (tests) always gets a fresh simulator.
    """
    if port and port in _running:
        return _running[port]
    simulator = None
    running = find_simulator(f"http://127.0.0.1:{port}") if port else None
    if running is not None:
        url = running.url
    else:
        if port and not _port_is_free(port):
            logger.warning("Port %s is busy; the embedded Notify simulator uses a free port instead.", port)
            port_to_bind = 0
        else:
            port_to_bind = port
        simulator = SimulatorServer(port=port_to_bind, delivery_delay=0.5, callback_retry_delay=5).start()
        url = simulator.url
    key, token = ensure_service(url, callback)
    result = (simulator, Embedded(url=url, key=key, token=token, shared=simulator is None))
    if port:
        _running[port] = result
    return result


def _admin(method: str, url: str, body: Any = None) -> Any:
    response = requests.request(method, url, json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def ensure_service(url: str, callback: str) -> tuple[str, str]:
    """The example's service on the simulator at ``url``, registered if it is not there yet,
    with every template and callbacks to ``callback``; its test key and callback token."""
    admin = f"{url}/_simulator"
    for _ in range(2):  # two processes may register it at once; the loser reads the winner's
        service = next((s for s in _admin("GET", f"{admin}/services")["services"] if s["id"] == EXAMPLE_SERVICE_ID),
                       None)
        if service is not None:
            break
        token = new_token()
        response = requests.post(f"{admin}/services", timeout=10, json={
            "id": EXAMPLE_SERVICE_ID, "name": EXAMPLE_SERVICE_NAME, "templates": TEMPLATES,
            # A test key: Notify's magic addresses (perm-fail@simulator.notify, ...) only work with one.
            "api_keys": [{"name": "example-test", "type": "test"}],
            "callbacks": _callbacks(callback, token),
        })
        if response.status_code == 201:
            service = response.json()
            break
    if service is None:
        raise RuntimeError(f"the example's service could not be registered on the simulator at {url}")
    known = {template["id"] for template in service["templates"]}
    for template in TEMPLATES:
        if template["id"] not in known:
            _admin("POST", f"{admin}/services/{EXAMPLE_SERVICE_ID}/templates", template)
    delivery = service["callbacks"].get("delivery_status")
    if delivery is not None and delivery["url"] == callback:
        token = str(delivery["bearer_token"])
    else:
        token = new_token()
        point_callbacks(url, callback, token)
    key = next(k["key"] for k in service["api_keys"] if k["type"] == "test" and k["revoked_at"] is None)
    return str(key), token


def _callbacks(url: str, token: str) -> dict[str, dict[str, str]]:
    return {"delivery_status": {"url": url, "bearer_token": token},
            "complaint": {"url": f"{url}/complaints", "bearer_token": token}}


def _port_is_free(port: int) -> bool:
    # Asked first because werkzeug's make_server exits the process on a busy port.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def point_callbacks(simulator_url: str, url: str, token: str, service_id: str = EXAMPLE_SERVICE_ID) -> None:
    """Have the simulator send a service's delivery receipts to ``url`` and its complaints to
    ``url/complaints``, with ``token``."""
    _admin("POST", f"{simulator_url}/_simulator/services/{service_id}/callbacks", _callbacks(url, token))


def configure(config: Config, embedded: Embedded) -> None:
    """Point the extension at the simulator."""
    config.update(
        DM_NOTIFY_KEY=embedded.key,
        DM_NOTIFY_BASE_URL=embedded.url,
        DM_EMAIL_BACKEND="notify",
        DM_NOTIFY_CALLBACK_TOKEN=embedded.token,
        EXAMPLE_INBOX_URL=embedded.inbox_url,
    )


def new_token() -> str:
    """A bearer token for the simulator's callbacks (Notify wants 10+ characters)."""
    return secrets.token_urlsafe(24)
