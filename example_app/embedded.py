"""Run the local Notify simulator inside the example app when there is no Notify key.

The simulator gets the example's templates and a *test* key (so Notify's magic test
addresses work), and calls the app back with delivery receipts and a bearer token that
is generated for this process.

One simulator per port and process: several ``create_app`` calls (tests, ``flask`` CLI
commands) share it. Under ``flask run --debug`` Werkzeug's reloader loads the app twice —
in the parent process that watches the files, and again in each child that serves. The
parent starts the simulator and hands its address, key and token to the children through
the environment, so a code reload keeps the inbox and nothing binds the port twice.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field

from flask import Config, Flask
from werkzeug.serving import is_running_from_reloader

from flask_dm_email.config import Stage, read_raw_settings
from flask_dm_email.config_keys import DEFAULT_CALLBACK_PREFIX, DM_NOTIFY_CALLBACK_PREFIX, DM_NOTIFY_KEY
from flask_dm_email.simulator import SimulatorServer

logger = logging.getLogger("example_app")

#: Set by the process that started the simulator, read by Werkzeug's reloader children.
HANDOVER_VARIABLE = "EXAMPLE_EMBEDDED_SIMULATOR_HANDOVER"

WELCOME_TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
RESET_TEMPLATE_ID = "0d1d5bd8-6bd5-4dbc-bc1e-7b02e4c4bd0c"
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
]


@dataclass(frozen=True)
class Embedded:
    """Where the embedded simulator is and how the app talks to it."""

    url: str
    key: str = field(repr=False)
    token: str = field(repr=False)

    @property
    def inbox_url(self) -> str:
        return f"{self.url}/_simulator/inbox"


# port -> (the simulator, how to reach it); port 0 (tests) always gets a fresh simulator.
_running: dict[int, tuple[SimulatorServer, Embedded]] = {}


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
    """Start (or reuse) the embedded simulator if ``app`` wants one, and point ``app.config``
    at it. Call before ``dm_email.init_app(app)``: the extension reads its settings there."""
    if not wanted(app):
        return None
    handover = os.environ.get(HANDOVER_VARIABLE)
    if handover and is_running_from_reloader():
        # A reloader child: the parent process runs the simulator and keeps it across reloads.
        embedded = Embedded(**json.loads(handover))
    else:
        simulator, embedded = start(app.config["EXAMPLE_SIMULATOR_PORT"])
        point_callbacks(simulator, callback_url(app), embedded.token)
        app.extensions["example_simulator"] = simulator
        if app.config["EXAMPLE_SIMULATOR_PORT"]:
            os.environ[HANDOVER_VARIABLE] = json.dumps(asdict(embedded))
    configure(app.config, embedded)
    if app.logger.level == logging.NOTSET:  # on a laptop, show the app's INFO lines, as the extension does
        app.logger.setLevel(logging.INFO)
    app.logger.info(
        "No DM_NOTIFY_KEY: sending through the local Notify simulator at %s; read the emails at %s",
        embedded.url,
        embedded.inbox_url,
    )
    return embedded


def start(port: int) -> tuple[SimulatorServer, Embedded]:
    """Start (once per port and process) the simulator with the example's templates."""
    if port and port in _running:
        return _running[port]
    requested = port
    if port and not _port_is_free(port):
        logger.warning("Port %s is busy; the embedded Notify simulator uses a free port instead.", port)
        port = 0
    simulator = SimulatorServer(port=port, delivery_delay=0.5, callback_retry_delay=5).start()
    for template in TEMPLATES:
        simulator.add_template(**template)
    # A test key: Notify's magic addresses (perm-fail@simulator.notify, ...) only work with one.
    embedded = Embedded(url=simulator.url, key=simulator.api_key("test"), token=new_token())
    if requested:
        _running[requested] = (simulator, embedded)
    return simulator, embedded


def _port_is_free(port: int) -> bool:
    # Asked first because werkzeug's make_server exits the process on a busy port.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def point_callbacks(simulator: SimulatorServer, url: str, token: str) -> None:
    """Send delivery receipts to ``url`` and complaints to ``url/complaints``, with ``token``."""
    simulator.set_callbacks(delivery_status=(url, token), complaint=(f"{url}/complaints", token))


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
