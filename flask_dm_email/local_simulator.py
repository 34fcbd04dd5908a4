"""Finding and describing a running local Notify simulator, from the client side.

Only HTTP: this module does not import :mod:`flask_dm_email.simulator` (which plays Notify
and must share nothing with the client). A simulator says what it is at
``GET /_simulator/identity``; a command checks that before it trusts a port, so a
different server that happens to listen there never gets an email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

#: What the simulator's identity endpoint answers as ``simulator`` (its ``defaults.SIMULATOR_IDENTITY``).
SIMULATOR_IDENTITY = "flask-dm-email Notify simulator"
IDENTITY_PATH = "/_simulator/identity"
#: Where ``flask dm-email simulator`` and the example app's embedded simulator listen by default.
WELL_KNOWN_URL = "http://127.0.0.1:6011"
#: Hosts of GOV.UK Notify itself: never asked whether they are a simulator.
_NOTIFY_HOST_SUFFIX = "notifications.service.gov.uk"


@dataclass(frozen=True)
class LocalSimulator:
    """A simulator that answered at :attr:`url`."""

    url: str

    @property
    def inbox_url(self) -> str:
        """Its inbox page."""
        return f"{self.url}/_simulator/inbox"


def find_simulator(url: str, timeout: float = 1.0) -> LocalSimulator | None:
    """The simulator at ``url`` if one answers there, else ``None`` (nothing there, Notify
    itself, or some other server)."""
    url = url.rstrip("/")
    host = urlsplit(url).hostname or ""
    if not host or host == _NOTIFY_HOST_SUFFIX or host.endswith(f".{_NOTIFY_HOST_SUFFIX}"):
        return None
    try:
        response = requests.get(f"{url}{IDENTITY_PATH}", timeout=timeout)
        answer = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    if isinstance(answer, dict) and answer.get("simulator") == SIMULATOR_IDENTITY:
        return LocalSimulator(url)
    return None


def describe_notify(backend: str, base_url: str, *, look_for_local: bool = False) -> str:
    """Where this app's emails go, for ``flask dm-email`` commands: GOV.UK Notify (or another
    API at ``base_url``), a local simulator (checked, with its inbox), or nowhere.

    With ``look_for_local`` (development), an app that sends nothing is told about a
    simulator running on the well-known port, and how to use it.
    """
    if backend != "notify":
        line = f"Notify: not used (the {backend} backend sends nothing)"
        running = find_simulator(WELL_KNOWN_URL) if look_for_local else None
        if running is not None:
            line += (
                f"; a Notify simulator is running at {running.url}: to send through it, put the "
                "DM_NOTIFY_BASE_URL and DM_NOTIFY_KEY lines `flask dm-email simulator` printed in .env"
            )
        return line
    simulator = find_simulator(base_url)
    if simulator is None:
        return f"Notify: {base_url}"
    return f"Notify: the local Notify simulator at {simulator.url} (read the emails at {simulator.inbox_url})"


STAND_IN_BODY = (
    "This is the simulator's stand-in for your template “{name}”: it knows the template's name "
    "and id from DM_NOTIFY_TEMPLATES, not its text. Give it your subject and body through the "
    "admin API (POST /_simulator/services/<service id>/templates with this template's id)."
)


def stand_in_templates(templates: Mapping[str, str]) -> list[dict[str, Any]]:
    """The app's ``DM_NOTIFY_TEMPLATES`` as simulator templates: each has the app's id and
    name, and a body that lists whatever personalisation an email is sent with."""
    return [
        {
            "id": template_id,
            "name": name,
            "subject": f"{name} (the simulator's stand-in template)",
            "body": STAND_IN_BODY.format(name=name),
            "lists_personalisation": True,
        }
        for name, template_id in templates.items()
    ]


def usable_key(services: list[dict[str, Any]]) -> str | None:
    """A key of the first service for ``DM_NOTIFY_KEY``: a test key if it has one (Notify's
    test addresses work only with a test key), else its first unrevoked key."""
    if not services:
        return None
    keys = [key for key in services[0].get("api_keys", []) if key.get("revoked_at") is None]
    keys.sort(key=lambda key: key.get("type") != "test")
    return str(keys[0]["key"]) if keys else None
