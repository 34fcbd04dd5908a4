"""The v2 notification routes: send email, get one, list, and refusals for SMS/letters."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, request

from .defaults import API_PAGE_SIZE
from .jsonio import ApiError, bad_request, json_response, no_result_found, validation_error
from .models import Notification
from .schema import is_uuid, validate_notifications_query, validate_post_email
from .sending import check_limits, check_rate_limit, send_email
from .state import SimulatorState, current_state
from .timeutil import format_time
from .v2 import caller, valid_json

FAILED_STATUSES = {
    "technical-failure", "temporary-failure", "permanent-failure", "validation-failed", "virus-scan-failed",
}


def register_notification_routes(blueprint: Blueprint) -> None:
    """Add the notification routes to the v2 blueprint."""
    blueprint.add_url_rule("/notifications/email", view_func=post_email, methods=["POST"])
    blueprint.add_url_rule("/notifications/sms", view_func=post_sms, methods=["POST"])
    blueprint.add_url_rule("/notifications/letter", view_func=post_letter, methods=["POST"])
    blueprint.add_url_rule("/notifications/<notification_type>", view_func=post_unknown_type, methods=["POST"])
    blueprint.add_url_rule("/notifications/<notification_id>", view_func=get_notification, methods=["GET"])
    blueprint.add_url_rule("/notifications", view_func=get_notifications, methods=["GET"])
    blueprint.add_url_rule("/received-text-messages", view_func=get_received_texts, methods=["GET"])


def _post_fault(state: SimulatorState, when: str) -> None:
    """An injected 500/503, if one is due and ``error_when`` says now is the time."""
    with state.lock:
        if state.faults.error_when != when:
            return
        outcome = state.faults.post_outcome()
    if outcome == "error":
        raise ApiError(500, "SimulatedServerError", "Internal server error")
    if outcome == "unavailable":
        raise ApiError(503, "ServiceUnavailable", "Service temporarily unavailable")


def post_email() -> Response:
    """``POST /v2/notifications/email``."""
    state = current_state()
    service, key = caller()
    _post_fault(state, "before_store")
    check_limits(state, service, key.key_type)
    body = validate_post_email(valid_json())
    with state.lock:
        hang = state.faults.take_hang()
        hang_when, hang_seconds = state.faults.hang_when, state.faults.hang_seconds
    if hang and hang_when == "before_store":
        state.stopping.wait(hang_seconds)
        raise ApiError(504, "EventletTimeout", "Timeout serving request")
    result = send_email(state, service, key.key_type, key.id, body, request.url_root)
    if hang:
        state.stopping.wait(hang_seconds)
    # With error_when="after_store" the email exists but the client sees a 5xx: a retry duplicates it.
    _post_fault(state, "after_store")
    return json_response(result.body, 201)


def _refuse(kind: str) -> Response:
    state = current_state()
    service, key = caller()
    _post_fault(state, "before_store")
    check_rate_limit(state, service, key.key_type)
    valid_json()
    # The simulator only sends email, so it answers as Notify does for a service without these permissions.
    raise bad_request(f"Service is not allowed to send {kind}")


def post_sms() -> Response:
    """``POST /v2/notifications/sms``: always refused."""
    return _refuse("text messages")


def post_letter() -> Response:
    """``POST /v2/notifications/letter``: always refused."""
    return _refuse("letters")


def post_unknown_type(notification_type: str) -> Response:
    """Notify routes every ``POST /v2/notifications/<type>`` and 404s unknown types."""
    abort(404)


def notification_response(notification: Notification, url_root: str) -> dict[str, Any]:
    """Notify's ``serialize_with_cost_data`` for an email."""
    lines: dict[str, Any] = {f"line_{number}": None for number in range(1, 7)}
    return {
        "body": notification.body,
        "completed_at": format_time(notification.completed_at),
        "cost_details": {},
        "cost_in_pounds": 0.0,
        "created_at": format_time(notification.created_at),
        "created_by_name": None,
        "email_address": notification.to,
        "id": notification.id,
        "is_cost_data_ready": True,
        **lines,
        "one_click_unsubscribe_url": notification.one_click_unsubscribe_url,
        "phone_number": None,
        "postage": None,
        "postcode": None,
        "reference": notification.reference,
        "scheduled_for": None,
        "sent_at": format_time(notification.sent_at),
        "status": notification.status,
        "subject": notification.subject,
        "template": {
            "id": notification.template_id,
            "uri": f"{url_root}v2/template/{notification.template_id}/version/{notification.template_version}",
            "version": notification.template_version,
        },
        "type": "email",
    }


def get_notification(notification_id: str) -> Response:
    """``GET /v2/notifications/<id>``: any key type of the owning service may read it."""
    if not is_uuid(notification_id):
        raise validation_error("notification_id is not a valid UUID")
    state = current_state()
    service, _ = caller()
    with state.lock:
        notification = state.notifications.get(str(uuid.UUID(notification_id)))
        if notification is None or notification.service_id != service.id:
            raise no_result_found()
        return json_response(notification_response(notification, request.url_root))


def _matching(state: SimulatorState, service_id: str, key_type: str, args: dict[str, Any]) -> list[Notification]:
    if args["template_type"] and "email" not in args["template_type"]:
        return []
    statuses = set(args["status"])
    if "failed" in statuses:
        statuses |= FAILED_STATUSES
    older_than = None
    if args["older_than"]:
        anchor = state.notifications.get(str(uuid.UUID(args["older_than"])))
        if anchor is None or anchor.service_id != service_id:
            return []
        older_than = anchor.created_at
    found = []
    for notification in reversed(state.notifications.values()):
        if notification.service_id != service_id or notification.key_type != key_type:
            continue
        if statuses and notification.status not in statuses:
            continue
        if args["reference"] is not None and notification.reference != args["reference"]:
            continue
        if older_than is not None and not notification.created_at < older_than:
            continue
        found.append(notification)
        if len(found) == API_PAGE_SIZE:
            break
    return found


def _link(args: dict[str, Any], **override: str) -> str:
    pairs: list[tuple[str, str]] = []
    for key in request.args:
        if key in ("status", "template_type"):
            pairs.extend((key, value) for value in args[key])
        elif key not in override and args.get(key) is not None:
            pairs.append((key, args[key]))
    pairs.extend(override.items())
    return request.base_url + ("?" + urlencode(pairs) if pairs else "")


def get_notifications() -> Response:
    """``GET /v2/notifications``: the caller's key type only, newest first, 250 a page."""
    args = validate_notifications_query(request.args)
    state = current_state()
    service, key = caller()
    with state.lock:
        page = _matching(state, service.id, key.key_type, args)
        notifications = [notification_response(item, request.url_root) for item in page]
    links = {"current": _link(args)}
    if page:
        links["next"] = _link(args, older_than=page[-1].id)
    return json_response({"links": links, "notifications": notifications})


def get_received_texts() -> Response:
    """``GET /v2/received-text-messages``: the simulator never receives texts."""
    return json_response({"links": {"current": request.base_url}, "received_text_messages": []})
