"""Admin API under ``/_simulator``: no JWT (local only), never under ``/v2``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from . import defaults
from .config import SimulatorConfigError, parse_callback
from .jsonio import json_response, parse_json
from .state import current_state


class AdminError(Exception):
    """A bad admin request; answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def create_admin_blueprint() -> Blueprint:
    """Build the ``/_simulator`` admin blueprint."""
    blueprint = Blueprint("admin", __name__, url_prefix="/_simulator")
    routes: list[tuple[str, Any, list[str]]] = [
        ("/identity", identity, ["GET"]),
        ("/services", list_services, ["GET"]),
        ("/services", add_service, ["POST"]),
        ("/services/<service_id>/api-keys", create_api_key, ["POST"]),
        ("/services/<service_id>/api-keys/revoke", revoke_api_key, ["POST"]),
        ("/services/<service_id>/templates", upsert_template, ["POST"]),
        ("/services/<service_id>/callbacks", set_callbacks, ["POST"]),
        ("/notifications/<notification_id>/complaint", trigger_complaint, ["POST"]),
        ("/reset", reset, ["POST"]),
        ("/faults", get_faults, ["GET"]),
        ("/faults", set_faults, ["POST"]),
        ("/faults", clear_faults, ["DELETE"]),
        ("/stats", stats, ["GET"]),
        ("/callbacks", callbacks, ["GET"]),
        ("/messages", messages, ["GET"]),
        ("/messages/<notification_id>", message, ["GET"]),
    ]
    for rule, view, methods in routes:
        blueprint.add_url_rule(rule, view_func=view, methods=methods)
    blueprint.register_error_handler(AdminError, lambda error: json_response({"error": error.message},
                                                                               error.status))
    blueprint.register_error_handler(SimulatorConfigError, lambda error: json_response({"error": str(error)}, 400))
    blueprint.register_error_handler(LookupError, lambda error: json_response({"error": str(error.args[0])}, 404))
    return blueprint


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = parse_json(raw)
    except ValueError as error:
        raise AdminError(400, f"the request body must be a JSON object ({error})") from None
    if not isinstance(data, dict):
        raise AdminError(400, "the request body must be a JSON object")
    return data


def identity() -> Response:
    """What this server is: a client checks it before using a simulator it finds on a port."""
    state = current_state()
    return json_response({"simulator": defaults.SIMULATOR_IDENTITY, "inbox": "/_simulator/inbox",
                          "services": len(state.services_view())})


def list_services() -> Response:
    """Every service with its keys, templates and callbacks."""
    return json_response({"services": current_state().services_view()})


def add_service() -> Response:
    """Add a service described like one entry of the config file's ``services``."""
    state = current_state()
    service = state.add_service(_body())
    return json_response(state.service_view(service.id), 201)


def create_api_key(service_id: str) -> Response:
    """Add a key: ``{"type": "test"|"team"|"normal", "name": ...}``; answers the full key string."""
    body = _body()
    state = current_state()
    key = state.create_api_key(service_id, body.get("type", "test"), body.get("name"), body.get("secret"))
    return json_response({"key": key, "type": body.get("type", "test")}, 201)


def revoke_api_key(service_id: str) -> Response:
    """Revoke a key: ``{"key": <full key, secret, id or name>}``."""
    key = _body().get("key")
    if not isinstance(key, str):
        raise AdminError(400, "key: give the full key string, its secret, id or name")
    current_state().revoke_api_key(key, service_id)
    return json_response({"revoked": True})


def upsert_template(service_id: str) -> Response:
    """Add a template, or a new version of the one with the given ``id``."""
    state = current_state()
    template = state.upsert_template(_body(), service_id)
    return json_response({"id": template.id, "version": template.current.version}, 201)


def set_callbacks(service_id: str) -> Response:
    """Set or remove callbacks: ``{"delivery_status": {"url", "bearer_token"} | null, ...}``."""
    state = current_state()
    for kind, raw in _body().items():
        if kind not in ("delivery_status", "complaint"):
            raise AdminError(400, f"{kind}: unknown callback; use delivery_status or complaint")
        state.set_callback(kind, None if raw is None else parse_callback(raw, kind), service_id)
    return json_response(state.service_view(service_id)["callbacks"])


def trigger_complaint(notification_id: str) -> Response:
    """Record a complaint against a notification and send the complaint callback."""
    complaint = current_state().trigger_complaint(notification_id)
    return json_response({"complaint_id": complaint.id, "notification_id": notification_id}, 201)


def reset() -> Response:
    """Back to the initial config."""
    current_state().reset()
    return json_response({"reset": True})


def get_faults() -> Response:
    """The current fault knobs."""
    return json_response(current_state().faults_view())


def set_faults() -> Response:
    """Merge fault knobs into the current ones; a bad knob changes nothing and is a 400."""
    try:
        return json_response(current_state().set_faults(_body()))
    except ValueError as error:
        raise AdminError(400, str(error)) from None


def clear_faults() -> Response:
    """Turn every fault knob off (``bucket_tokens`` stays)."""
    return json_response(current_state().clear_faults())


def stats() -> Response:
    """Counts of 429s served and notifications created since the start or the last reset."""
    return json_response(current_state().stats_view())


def callbacks() -> Response:
    """Every callback attempt, oldest first; filter with ``?kind=`` and ``?notification_id=``."""
    filters = {key: request.args[key] for key in ("kind", "notification_id", "result") if key in request.args}
    return json_response({"callbacks": current_state().callbacks.attempts(**filters)})


def messages() -> Response:
    """Stored emails, newest first; filter with ``?to=``, ``?reference=``, ``?status=``."""
    filters = {key: request.args[key] for key in ("to", "reference", "status", "key_type", "service_id")
               if key in request.args}
    return json_response({"messages": current_state().messages(**filters)})


def message(notification_id: str) -> Response:
    """One stored email, with ``html_body``: the HTML Notify would send."""
    state = current_state()
    found = state.message(notification_id)
    if found is None:
        raise AdminError(404, f"no message with id {notification_id}")
    return json_response({**found, "html_body": state.message_html(notification_id)})
