"""Run the local Notify simulator inside the example app when there is no Notify key.

The simulator gets the example's templates and a *test* key (so Notify's magic test
addresses work), and calls the app back with delivery receipts and a bearer token that
is generated for this process.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask_dm_email.simulator import SimulatorServer

logger = logging.getLogger("example_app")

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

_running: dict[int, SimulatorServer] = {}


def start(port: int, callback_url: str, token: str) -> SimulatorServer:
    """Start (once per port and process) the simulator with the example's templates."""
    if port and port in _running:  # port 0 (tests) always gets a fresh simulator
        simulator = _running[port]
    else:
        simulator = SimulatorServer(port=port, delivery_delay=0.5, callback_retry_delay=5)
        try:
            simulator.start()
        except OSError:
            logger.warning("Port %s is busy; the embedded Notify simulator uses a free port instead.", port)
            simulator = SimulatorServer(port=0, delivery_delay=0.5, callback_retry_delay=5).start()
        for template in TEMPLATES:
            simulator.add_template(**template)
        if port:
            _running[port] = simulator
    point_callbacks(simulator, callback_url, token)
    return simulator


def point_callbacks(simulator: SimulatorServer, callback_url: str, token: str) -> None:
    """Send delivery receipts and complaints to ``callback_url`` with ``token``."""
    simulator.set_callbacks(
        delivery_status=(callback_url, token),
        complaint=(f"{callback_url}/complaints", token),
    )


def configure(config: dict[str, Any], simulator: SimulatorServer, token: str) -> None:
    """Point the extension at the simulator with a test key."""
    config.update(
        DM_NOTIFY_KEY=simulator.api_key("test"),
        DM_NOTIFY_BASE_URL=simulator.url,
        DM_EMAIL_BACKEND="notify",
        DM_NOTIFY_CALLBACK_TOKEN=token,
    )


def new_token() -> str:
    return secrets.token_urlsafe(24)
