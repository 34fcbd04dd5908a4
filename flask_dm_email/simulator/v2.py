"""Hooks and helpers shared by every ``/v2`` route: latency, authentication, the caller, the body.

The route modules import this one; the blueprint itself is assembled in
:mod:`.app`, so nothing here imports a route module.
"""

from __future__ import annotations

from typing import Any

from flask import g, request

from .auth import authenticate
from .jsonio import bad_request, parse_json
from .models import ApiKey, Service
from .state import current_state


def before_v2_request() -> None:
    """Apply any latency fault, then authenticate as Notify does before anything else."""
    state = current_state()
    with state.lock:
        latency = state.faults.latency
    if latency:
        state.stopping.wait(latency)
    # Notify authenticates before anything else, including rate limiting.
    g.service, g.api_key = authenticate(state, request.headers.get("Authorization"))


def caller() -> tuple[Service, ApiKey]:
    """The authenticated service and key of the current request."""
    return g.service, g.api_key


def valid_json() -> Any:
    """Notify's ``get_valid_json``: force-parse the body; falsy values become ``{}``."""
    try:
        data = parse_json(request.get_data(cache=True))
    except ValueError:
        raise bad_request("Invalid JSON supplied in POST data") from None
    return data or {}
