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
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from .hashing import hash_string
from .outbox.receipts import apply_receipt, record_complaint
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
        # Said once, when the app first serves a request: not on every `flask` command.
        # A lock taken once and never given back: of two first requests racing, one warns.
        first = threading.Lock()

        def warn_once() -> None:
            if first.acquire(blocking=False):
                logger.warning(
                    "Notify callbacks at %s accept requests without a bearer token on %s. Set "
                    "DM_NOTIFY_CALLBACK_TOKEN to require one, or DM_NOTIFY_CALLBACKS_ENABLED=false "
                    "if this app does not take Notify's callbacks.",
                    settings.callback_prefix,
                    settings.stage.value,
                )

        app.before_request(warn_once)
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


class CallbackRejected(Exception):
    """A request the blueprint refuses; answered as JSON by :func:`_rejected`."""

    def __init__(self, status: int, message: str, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: with ``{"status": "delivered", "status":
    "permanent-failure"}`` nobody can say which status Notify meant."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CallbackRejected(400, f"The body repeats the key {key!r}.")
        result[key] = value
    return result


def read_payload(schema: Schema) -> dict[str, Any]:
    """Authenticate, bound, parse and validate the body, or raise
    :class:`CallbackRejected` with the status to answer."""
    if not _authorised(get_state().settings.callback_tokens):
        raise CallbackRejected(401, "Missing or wrong bearer token in the Authorization header.")
    too_large = f"The body is larger than {MAX_BODY_BYTES} bytes."
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise CallbackRejected(413, too_large)
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise CallbackRejected(413, too_large)
    try:
        data = json.loads(raw, object_pairs_hook=_no_repeated_keys)
    except (ValueError, RecursionError):
        raise CallbackRejected(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise CallbackRejected(400, "The body must be a JSON object.")
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        fields_at_fault = ", ".join(sorted(map(str, messages)))
        raise CallbackRejected(400, f"Invalid fields: {fields_at_fault}.", messages) from None
    return loaded


@blueprint.errorhandler(CallbackRejected)
def _rejected(error: CallbackRejected) -> tuple[Response, int]:
    extra = {"errors": error.errors} if error.errors is not None else {}
    return _reply(error.status, error.message, **extra)


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[Response, int]:
    return _reply(error.code or 500, error.description or error.name)


@blueprint.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[Response, int]:
    # Whatever escapes a view is still answered in JSON, and with a 5xx so Notify retries.
    # The message and traceback may quote the body (an address): log only the class.
    logger.error("Notify callback: unexpected %s; answering 500 so Notify retries.", type(error).__name__)
    return _reply(500, "The app could not handle this callback; Notify will retry it.")


def _redact(text: str, address: str, hashed: str) -> str:
    return re.sub(re.escape(address), hashed, text, flags=re.IGNORECASE) if address else text


def _run_hook(
    name: str, hook: Callable[[str, Mapping[str, Any]], Any], address: str, hashed: str, payload: Mapping[str, Any]
) -> tuple[bool, Any]:
    """Call an app hook; on failure log it (redacted: ``hashed`` is the address's hash)
    and report False."""
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
    receipt = read_payload(_RECEIPT_SCHEMA)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    address, status_name, reference = receipt["to"], receipt["status"], receipt["reference"]
    hashed = hash_string(address)
    extra = {"notify_callback": _without_to(receipt), "email_address": hashed}
    state = get_state(app)
    hook = state.hooks.user_deactivator
    # One line per receipt: a failure is that line at WARNING, not a second line.
    level = logging.WARNING if status_name in FAILURE_STATUSES else logging.INFO
    note = ""
    if status_name == "permanent-failure" and hook is None:
        note = "; no user_deactivator is registered, so no account was deactivated"
    elif status_name not in KNOWN_STATUSES:
        level, note = logging.WARNING, " (a status this version does not know; accepted)"
    logger.log(level, "Notify callback: %s: %s to %s%s", status_name, reference, hashed, note, extra=extra)
    if state.outbox is not None:
        # The row moves forward (never back); a repeated receipt becomes an event only.
        apply_receipt(app, state.outbox.store, receipt)
    delivery_receipt_received.send(app, receipt=receipt)
    if status_name != "permanent-failure":
        return _reply(200)
    permanent_failure.send(app, receipt=receipt)
    if hook is None:
        return _reply(200)
    ok, deactivated = _run_hook("user_deactivator", hook, address, hashed, receipt)
    if not ok:
        return _reply(500, "The app could not handle this receipt; Notify will retry it.")
    if deactivated:
        logger.info(
            "User account disabled for %s after Notify reported permanent delivery failure.",
            hashed,
            extra=extra,
        )
        user_deactivated.send(app, email_hash=hashed, receipt=receipt)
    return _reply(200)


@blueprint.route("/notify/complaints", methods=["POST", *_OTHER_METHODS])
def complaint() -> tuple[Response, int]:
    """Take one complaint: log it, send ``complaint_received``, call the app's hook."""
    if request.method != "POST":
        return _method_not_allowed()
    payload = read_payload(_COMPLAINT_SCHEMA)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    hashed = hash_string(payload["to"])
    logger.warning(
        "Notify complaint: %s marked email with ref %s as spam (complaint %s)",
        hashed,
        payload["reference"],
        payload["complaint_id"],
        extra={"notify_complaint": _without_to(payload), "email_address": hashed},
    )
    state = get_state(app)
    if state.outbox is not None:
        record_complaint(state.outbox.store, payload)
    complaint_received.send(app, complaint=payload)
    hook = state.hooks.complaint_handler
    if hook is not None and not _run_hook("complaint_handler", hook, payload["to"], hashed, payload)[0]:
        return _reply(500, "The app could not handle this complaint; Notify will retry it.")
    return _reply(200)


def _method_not_allowed() -> tuple[Response, int]:
    response, status_code = _reply(405, "Use POST.")
    response.headers["Allow"] = "POST"
    return response, status_code
