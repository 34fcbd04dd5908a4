"""A local stand-in for GOV.UK Notify's email API, with an inbox and fault knobs.

It imports nothing from the rest of ``flask_dm_email``: it plays Notify, so it
must not share validation or schemas with the client side it tests.

Running it
----------
``python -m flask_dm_email.simulator [--config FILE] [--host H] [--port 6011]
[--delivery-delay S] [--callback-retry-delay S] [--callback-url URL --callback-token T]``,
or :func:`serve` (blocking), or :class:`SimulatorServer` (background thread, for tests).
``GET /_status`` answers ``{"status": "ok"}`` once it is ready.

Zero-config mode
----------------
With no config, there is one live service "Local development" with id
:data:`ZERO_CONFIG_SERVICE_ID`, team member ``developer@example.com``, no
templates, and one key of each type whose full strings are
:data:`ZERO_CONFIG_KEYS` (``"test"``, ``"team"``, ``"normal"``). They are fixed
and public so a quick start can put one in ``DM_NOTIFY_KEY``; they only work here.

Config file (JSON, or TOML when the name ends in ``.toml``)
-----------------------------------------------------------
::

    {"services": [{"id": UUID, "name": str, "restricted": false, "active": true,
                   "email_sender_local_part": str, "rate_limit": 3000,
                   "email_message_limit": 250000 (50 when restricted),
                   "permissions": ["email"], "contact_link": str | null,
                   "api_keys": [{"name": str, "type": "normal"|"team"|"test", "secret": UUID,
                                 "revoked_at": ISO time | "revoked": true}],
                   "team_members": [email], "guest_list": [email],
                   "reply_to": [{"id": UUID, "email_address": email, "is_default": bool}],
                   "templates": [{"id": UUID, "name": str, "type": "email", "subject": str,
                                  "body": str, "version": 1, "archived": false, "hidden": false,
                                  "lists_personalisation": false}],
                   "callbacks": {"delivery_status": {"url": str, "bearer_token": str},
                                 "complaint": {"url": str, "bearer_token": str}}}],
     "faults": {...}, "delivery_delay": 0.5, "callback_retry_delay": 300,
     "bouncing_addresses": [email], "bouncing_domains": [domain],
     "email_domain": "notifications.service.gov.uk"}

``serve(..., templates=[...])`` and ``SimulatorServer(templates=[...])`` give the first
service more templates (``flask dm-email simulator`` passes the app's ``DM_NOTIFY_TEMPLATES``
as stand-ins: ``lists_personalisation`` bodies that list whatever personalisation an email
is sent with). Everything but a service's ``name`` is optional; ids and secrets default to new
UUIDs. Errors name the field, e.g. ``services[0].api_keys[1].type``.

Admin API (no JWT; never under ``/v2``)
---------------------------------------
``GET /_simulator/identity`` (what a client checks before it uses a simulator it finds),
``GET|POST /_simulator/services``, ``POST /_simulator/services/<id>/api-keys``
(answers ``{"key": <full key>}``), ``POST /_simulator/services/<id>/api-keys/revoke``,
``POST /_simulator/services/<id>/templates`` (same ``id`` again = new version),
``POST /_simulator/services/<id>/callbacks``, ``POST /_simulator/notifications/<id>/complaint``,
``GET|POST|DELETE /_simulator/faults``, ``GET /_simulator/callbacks``, ``GET /_simulator/stats``,
``GET /_simulator/messages[?to=&reference=&status=]``, ``GET /_simulator/messages/<id>``,
``POST /_simulator/reset``; HTML inbox at ``/_simulator/inbox``.

Fault knobs: ``seed``, ``error_rate``/``error_next`` (500), ``unavailable_rate``/
``unavailable_next`` (503) with ``error_when`` (``"before_store"`` or ``"after_store"``),
``force_429`` (N or ``"always"``), ``rate_limit_rate`` (share answered 429),
``bucket_tokens`` (set every rate-limit bucket to N tokens; ``DELETE`` leaves it),
``latency`` (s), ``hang_rate``/``hang_next`` with ``hang_seconds`` and ``hang_when``
(``"after_store"`` or ``"before_store"``), ``drop_callbacks`` (bool or share). Each is
checked for type and range; a bad one is a 400 naming it.
"""

from __future__ import annotations

from .app import create_app
from .config import SimulatorConfig, SimulatorConfigError, load_config
from .defaults import ZERO_CONFIG_KEYS, ZERO_CONFIG_SERVICE_ID
from .server import SimulatorServer, serve
from .state import SimulatorState

__all__ = [
    "ZERO_CONFIG_KEYS",
    "ZERO_CONFIG_SERVICE_ID",
    "SimulatorConfig",
    "SimulatorConfigError",
    "SimulatorServer",
    "SimulatorState",
    "create_app",
    "load_config",
    "serve",
]
