"""The callback blueprint: GOV.UK Notify's delivery receipts and complaints.

Notify retries a callback on 5xx, 429 and timeouts, but drops it for good on any other
4xx. So this blueprint answers 2xx only after a receipt has been handled, 5xx when the
app's hook failed (Notify retries; nothing is lost), and 4xx only for requests that are
not from Notify or can never succeed. Handling the same receipt twice is harmless as
long as the app's hook is idempotent.

Responses are always JSON: ``{"status": "ok"}``, or ``{"status": "error", "message":
..., "errors": {field: [messages]}}``. No response and no log line contains an email
address (only its :func:`~flask_dm_email.helpers.hash_string`) or a token.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from marshmallow import Schema, ValidationError

from .hashing import hash_string
from .receipt_schemas import FAILURE_STATUSES, KNOWN_STATUSES, ComplaintSchema, DeliveryReceiptSchema
from .signals import complaint_received, delivery_receipt_received, permanent_failure, user_deactivated
from .state import DMEmailState, get_state

__all__ = [
    "MAX_BODY_BYTES",
    "blueprint",
    "register_callbacks",
]

logger = logging.getLogger("flask_dm_email.callbacks")

#: Largest body accepted; Notify's callbacks are well under 1 KiB.
MAX_BODY_BYTES = 64 * 1024
_OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE"]

blueprint = Blueprint("dm_email_callbacks", __name__)
# Built once: a marshmallow schema is reusable, and building one costs more than a load.
_RECEIPT_SCHEMA = DeliveryReceiptSchema()
_COMPLAINT_SCHEMA = ComplaintSchema()


def register_callbacks(app: Flask, state: DMEmailState) -> None:
    """Mount the blueprint at ``DM_NOTIFY_CALLBACK_PREFIX`` and say what is unsafe."""
    settings = state.settings
    app.register_blueprint(blueprint, url_prefix=settings.callback_prefix)
    if not settings.callback_tokens:
        # Only development and test get here: the stage rules require a token elsewhere.
        logger.warning(
            "Notify callbacks at %s accept requests without a bearer token on %s. Set "
            "DM_NOTIFY_CALLBACK_TOKEN to require one.",
            settings.callback_prefix,
            settings.stage.value,
        )
    if settings.stage.is_live and state.hooks.user_deactivator is None:
        logger.warning(
            "No user_deactivator is registered: users whose address Notify reports as a "
            "permanent failure will not be deactivated. Register one with @dm_email.user_deactivator."
        )


_OK_BODY = b'{"status":"ok"}\n'


def _reply(status: int, message: str | None = None, **extra: Any) -> tuple[Response, int]:
    if status == 200 and not message and not extra:
        # The answer to nearly every callback: skip serialising the same dict each time.
        return Response(_OK_BODY, mimetype="application/json"), 200
    body: dict[str, Any] = {"status": "ok" if status < 300 else "error"}
    if message:
        body["message"] = message
    body.update(extra)
    return jsonify(body), status


def _authorised(tokens: tuple[str, ...]) -> bool:
    if not tokens:
        return True
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        return False
    given = header[7:].strip().encode("utf-8", "surrogateescape")
    matched = False
    for token in tokens:  # compare with every token: no early exit to time
        matched |= hmac.compare_digest(given, token.encode("utf-8"))
    return matched


def _read(schema: Schema) -> dict[str, Any] | tuple[Response, int]:
    """Authenticate, bound, parse and validate the body; or the error reply."""
    if not _authorised(get_state().settings.callback_tokens):
        return _reply(401, "Missing or wrong bearer token in the Authorization header.")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _reply(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return _reply(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _reply(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        return _reply(400, "The body must be a JSON object.")
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        fields_at_fault = ", ".join(sorted(map(str, messages)))
        return _reply(400, f"Invalid fields: {fields_at_fault}.", errors=messages)
    return loaded


def _redact(text: str, address: str, hashed: str) -> str:
    return re.sub(re.escape(address), hashed, text, flags=re.IGNORECASE) if address else text


def _run_hook(
    name: str, hook: Callable[[str, Mapping[str, Any]], Any], address: str, payload: Mapping[str, Any]
) -> tuple[bool, Any]:
    """Call an app hook; on failure log it (redacted) and report False."""
    hashed = hash_string(address)
    try:
        return True, hook(address, payload)
    except Exception as error:
        details = _redact("".join(traceback.format_exception(error)), address, hashed)
        logger.error(
            "Notify callback: %s failed for %s with %s; answering 500 so Notify retries.\n%s",
            name,
            hashed,
            type(error).__name__,
            details,
            extra={"email_address": hashed},
        )
        return False, None


def _without_to(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "to"}


@blueprint.get("")
def status() -> tuple[Response, int]:
    """Liveness check: ``{"status": "ok"}``."""
    return _reply(200)


@blueprint.route("/notify", methods=["POST", *_OTHER_METHODS])
def delivery_receipt() -> tuple[Response, int]:
    """Take one delivery receipt: log it, send signals, deactivate on permanent failure."""
    if request.method != "POST":
        return _method_not_allowed()
    receipt = _read(_RECEIPT_SCHEMA)
    if isinstance(receipt, tuple):
        return receipt
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    address, status_name, reference = receipt["to"], receipt["status"], receipt["reference"]
    hashed = hash_string(address)
    extra = {"notify_callback": _without_to(receipt), "email_address": hashed}
    logger.info("Notify callback: %s: %s to %s", status_name, reference, hashed, extra=extra)
    if status_name in FAILURE_STATUSES:
        logger.warning("Notify callback: %s: %s to %s", status_name, reference, hashed, extra=extra)
    elif status_name not in KNOWN_STATUSES:
        logger.warning(
            "Notify callback: unrecognised status %r accepted for %s (ref %s)", status_name, hashed, reference
        )
    delivery_receipt_received.send(app, receipt=receipt)
    if status_name != "permanent-failure":
        return _reply(200)
    permanent_failure.send(app, receipt=receipt)
    hook = get_state(app).hooks.user_deactivator
    if hook is None:
        logger.warning(
            "Notify callback: permanent-failure for %s (ref %s) but no user_deactivator is "
            "registered, so no account was deactivated.",
            hashed,
            reference,
            extra={"email_address": hashed},
        )
        return _reply(200)
    ok, deactivated = _run_hook("user_deactivator", hook, address, receipt)
    if not ok:
        return _reply(500, "The app could not handle this receipt; Notify will retry it.")
    if deactivated:
        logger.info(
            "User account disabled for %s after Notify reported permanent delivery failure.",
            hashed,
            extra={"email_address": hashed, "notify_callback": _without_to(receipt)},
        )
        user_deactivated.send(app, email_hash=hashed, receipt=receipt)
    return _reply(200)


@blueprint.route("/notify/complaints", methods=["POST", *_OTHER_METHODS])
def complaint() -> tuple[Response, int]:
    """Take one complaint: log it, send ``complaint_received``, call the app's hook."""
    if request.method != "POST":
        return _method_not_allowed()
    payload = _read(_COMPLAINT_SCHEMA)
    if isinstance(payload, tuple):
        return payload
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    hashed = hash_string(payload["to"])
    logger.warning(
        "Notify complaint: %s marked email with ref %s as spam (complaint %s)",
        hashed,
        payload["reference"],
        payload["complaint_id"],
        extra={"notify_complaint": _without_to(payload), "email_address": hashed},
    )
    complaint_received.send(app, complaint=payload)
    hook = get_state(app).hooks.complaint_handler
    if hook is not None and not _run_hook("complaint_handler", hook, payload["to"], payload)[0]:
        return _reply(500, "The app could not handle this complaint; Notify will retry it.")
    return _reply(200)


def _method_not_allowed() -> tuple[Response, int]:
    response, status_code = _reply(405, "Use POST.")
    response.headers["Allow"] = "POST"
    return response, status_code
