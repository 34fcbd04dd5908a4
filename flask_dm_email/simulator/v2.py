"""The ``/v2`` blueprint: authentication and fault hooks shared by every v2 route."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from .auth import authenticate
from .jsonio import bad_request, parse_json
from .models import ApiKey, Service
from .state import current_state


def create_v2_blueprint() -> Blueprint:
    """Build the blueprint with every v2 route registered."""
    from .api_notifications import register_notification_routes
    from .api_templates import register_template_routes

    blueprint = Blueprint("v2", __name__, url_prefix="/v2")
    blueprint.before_request(_before_v2_request)
    register_notification_routes(blueprint)
    register_template_routes(blueprint)
    return blueprint


def _before_v2_request() -> None:
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
