"""Request validation with Notify's exact messages.

Notify validates with JSON schema and rewrites jsonschema's messages (field
name first, ``'`` removed). This module reproduces those messages directly, in
the order Notify reports them: properties in schema order, then ``required``,
then ``additionalProperties``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from .addresses import is_valid_email_address
from .jsonio import ApiError
from .uri import is_https_url

NOTIFICATION_STATUSES = (
    "cancelled", "created", "sending", "sent", "delivered", "pending", "failed",
    "technical-failure", "temporary-failure", "permanent-failure", "pending-virus-check",
    "validation-failed", "virus-scan-failed", "returned-letter", "accepted", "received",
)
TEMPLATE_TYPE_CHOICES = ("sms", "email", "letter")

_ISO8601_DOC = "https://en.wikipedia.org/wiki/ISO_8601"


def quote_free_repr(value: Any) -> str:
    """``repr`` as Notify prints it in messages: Python syntax with every ``'`` removed."""
    return repr(value).replace("'", "")


def is_uuid(value: Any) -> bool:
    """True for a string ``uuid.UUID`` accepts (Notify's ``validate_uuid`` format)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _type_error(field: str, value: Any, type_name: str) -> str:
    return f"{field} {quote_free_repr(value)} is not of type {type_name}"


def _check_reference(value: Any) -> str | None:
    if not isinstance(value, str):
        return _type_error("reference", value, "string")
    if len(value) > 1000:
        return f"reference {quote_free_repr(value)} is too long"
    return None


def _check_email_address(value: Any) -> str | None:
    if not isinstance(value, str):
        return _type_error("email_address", value, "string")
    if not is_valid_email_address(value):
        return "email_address Not a valid email address"
    return None


def _uuid_check(field: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if is_uuid(value) else f"{field} is not a valid UUID"

    return check


def _check_personalisation(value: Any) -> str | None:
    return None if isinstance(value, dict) else _type_error("personalisation", value, "object")


def _check_scheduled_for(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return _type_error("scheduled_for", value, "string, null")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return (
            "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time "
            f"format, {_ISO8601_DOC}"
        )
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    when = when.replace(tzinfo=None)
    now = datetime.now(UTC).replace(tzinfo=None)
    if when < now:
        return "scheduled_for datetime can not be in the past"
    if when > now + timedelta(hours=24):
        return "scheduled_for datetime can only be 24 hours in the future"
    return None


def _check_unsubscribe_url(value: Any) -> str | None:
    if is_https_url(value):
        return None
    return "one_click_unsubscribe_url is not a valid https url"


def _check_sanitise(value: Any) -> str | None:
    if value is None or isinstance(value, list):
        return None
    return _type_error("sanitise_content_for", value, "array, null")


_EMAIL_PROPERTIES: dict[str, Callable[[Any], str | None]] = {
    "reference": _check_reference,
    "email_address": _check_email_address,
    "template_id": _uuid_check("template_id"),
    "personalisation": _check_personalisation,
    "scheduled_for": _check_scheduled_for,
    "email_reply_to_id": _uuid_check("email_reply_to_id"),
    "one_click_unsubscribe_url": _check_unsubscribe_url,
    "sanitise_content_for": _check_sanitise,
}


def additional_properties_message(extras: list[str]) -> str:
    """jsonschema's message for unexpected keys, with quotes removed."""
    verb = "was" if len(extras) == 1 else "were"
    return f"Additional properties are not allowed ({', '.join(sorted(extras))} {verb} unexpected)"


def _raise_if_any(messages: list[str]) -> None:
    unique = list(dict.fromkeys(messages))
    if unique:
        raise ApiError.many(400, [("ValidationError", message) for message in unique])


def validate_post_email(body: Any) -> dict[str, Any]:
    """Check a ``POST /v2/notifications/email`` body; raise every problem at once."""
    if not isinstance(body, dict):
        _raise_if_any([f"{quote_free_repr(body)} is not of type object"])
        raise AssertionError("unreachable")
    messages = []
    for field, check in _EMAIL_PROPERTIES.items():
        if field in body:
            message = check(body[field])
            if message:
                messages.append(message)
    messages.extend(f"{field} is a required property" for field in ("email_address", "template_id")
                    if field not in body)
    extras = [key for key in body if key not in _EMAIL_PROPERTIES]
    if extras:
        messages.append(additional_properties_message(extras))
    _raise_if_any(messages)
    return body


def validate_notifications_query(args: MultiDict[str, str]) -> dict[str, Any]:
    """Check ``GET /v2/notifications`` query arguments and return the cleaned values."""
    messages = []
    statuses = args.getlist("status")
    template_types = args.getlist("template_type")
    for status in statuses:
        if status not in NOTIFICATION_STATUSES:
            messages.append(f"status {status} is not one of [{', '.join(NOTIFICATION_STATUSES)}]")
    for template_type in template_types:
        if template_type not in TEMPLATE_TYPE_CHOICES:
            messages.append(
                f"template_type {template_type} is not one of [{', '.join(TEMPLATE_TYPE_CHOICES)}]"
            )
    include_jobs = args.get("include_jobs")
    if include_jobs is not None and include_jobs not in ("true", "True"):
        messages.append(f"include_jobs {include_jobs} is not one of [true, True]")
    older_than = args.get("older_than")
    if older_than is not None and not is_uuid(older_than):
        messages.append("older_than is not a valid UUID")
    allowed = ("template_type", "status", "reference", "older_than", "include_jobs")
    extras = [key for key in args if key not in allowed]
    if extras:
        messages.append(additional_properties_message(extras))
    _raise_if_any(messages)
    return {
        "status": statuses,
        "template_type": template_types,
        "reference": args.get("reference"),
        "older_than": older_than,
        "include_jobs": include_jobs,
    }


def validate_templates_query(args: Mapping[str, str]) -> str | None:
    """Check ``GET /v2/templates`` query arguments; return the ``type`` filter."""
    messages = []
    template_type = args.get("type")
    if template_type is not None and template_type not in TEMPLATE_TYPE_CHOICES:
        messages.append(f"type {template_type} is not one of [{', '.join(TEMPLATE_TYPE_CHOICES)}]")
    extras = [key for key in args if key != "type"]
    if extras:
        messages.append(additional_properties_message(extras))
    _raise_if_any(messages)
    return template_type


def validate_preview(body: Any) -> dict[str, Any]:
    """Check a template preview body: only ``personalisation`` is typed; extras are fine."""
    if not body:
        return {}
    if not isinstance(body, dict):
        _raise_if_any([f"{quote_free_repr(body)} is not of type object"])
        raise AssertionError("unreachable")
    if "personalisation" in body:
        message = _check_personalisation(body["personalisation"])
        _raise_if_any([message] if message else [])
    return body
