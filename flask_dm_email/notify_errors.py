"""Notify's refusals, read: which error class a caller gets, and what an attempt's
failure means for a retry. Pure: no network."""

from __future__ import annotations

from typing import Any

import requests
from notifications_python_client.errors import APIError

from .api_keys import key_name
from .attempts import Attempt, Outcome
from .backends import OutgoingEmail
from .errors import (
    EmailAuthError,
    EmailError,
    EmailInvalidError,
    EmailRateLimitError,
    EmailRequestError,
    EmailTemplateError,
    RecipientNotAllowedError,
)

_TEMPLATE_MESSAGES = (
    "Missing personalisation",
    "Template not found",
    "template is not suitable for email",
    "Template has been deleted",
    "Your message is empty",
    "Your message is too long",
    "template_id is not a valid UUID",
    "personalisation",
)
_RECIPIENT_MESSAGES = ("team-only API key", "trial mode")


def notify_errors(error: APIError) -> list[dict[str, Any]]:
    """Notify's ``errors`` list, or a stand-in when the body was not Notify's JSON."""
    message = error.message
    if isinstance(message, list):
        return [m for m in message if isinstance(m, dict)]
    return [{"error": "HTTPError", "message": str(message)}]


def _notify_error_names(error: APIError) -> list[str]:
    return [str(e.get("error")) for e in notify_errors(error)]


def map_notify_error(error: APIError, email: OutgoingEmail, key: str | None) -> EmailError:
    """Turn Notify's refusal into the error class a caller can act on."""
    errors = notify_errors(error)
    status = error.status_code
    text = "; ".join(f"{e.get('error')}: {e.get('message')}" for e in errors)
    where = f"(reference {email.reference}, template {email.template_name or email.template_id})"
    kwargs: dict[str, Any] = {
        "status_code": status,
        "notify_errors": errors,
        "reference": email.reference,
    }
    if status == 403:
        fix = (
            "Make the server clock accurate (NTP)."
            if "clock" in text
            else "Check DM_NOTIFY_KEY is the whole key, not revoked, and belongs to the "
            f"Notify at DM_NOTIFY_BASE_URL. Key in use: {key_name(key)}."
        )
        return EmailAuthError(f"Notify refused the API key {where}: {text}. {fix}", **kwargs)
    if status == 429:
        return EmailRateLimitError(
            f"Notify's limit was reached {where}: {text}. Send later; the per-minute limit "
            "refills continuously, the daily limit at midnight UTC.",
            **kwargs,
        )
    if any(m in text for m in _RECIPIENT_MESSAGES):
        return RecipientNotAllowedError(
            f"Notify refused the recipient {where}: {text}. With a team key, or a live key "
            "while the service is in trial mode, the address must be in the service's team "
            "or guest list: add it in Notify, or use a test key.",
            **kwargs,
        )
    if "email_address" in text or "InvalidEmailError" in text:
        return EmailInvalidError(f"Notify refused the address {where}: {text}.", **kwargs)
    if "Template not found" in text:
        return EmailTemplateError(
            f"Notify has no such template {where}: {text}. The id in DM_NOTIFY_TEMPLATES must be a "
            "template of the service DM_NOTIFY_KEY belongs to. On the local simulator, "
            "`flask dm-email simulator` serves the app's DM_NOTIFY_TEMPLATES; add another with "
            "POST /_simulator/services/<service id>/templates (see the docs: 'Use the simulator with your app').",
            **kwargs,
        )
    if any(m in text for m in _TEMPLATE_MESSAGES):
        return EmailTemplateError(
            f"Notify refused the template or personalisation {where}: {text}. Check "
            "DM_NOTIFY_TEMPLATES and the personalisation the template expects.",
            **kwargs,
        )
    if status == 404:
        return EmailRequestError(
            f"Notify answered 404 {where}: {text}. Check DM_NOTIFY_BASE_URL is the API root.",
            **kwargs,
        )
    return EmailRequestError(f"Notify refused the email {where}: {status} {text}.", **kwargs)


def _answered_by_notify(error: APIError) -> bool:
    """True when Notify's own API produced the response (its JSON error body), so its
    processing of the request is over; False for a proxy's page or no response at all."""
    return isinstance(error.message, list)


def classify_failure(
    error: APIError, email: OutgoingEmail, key: str | None, in_flight_bound: float
) -> Attempt:
    """Turn a failed request into an :class:`~flask_dm_email.attempts.Attempt`."""
    status = error.response.status_code if error.response is not None else None
    names = _notify_error_names(error)
    if status is None:
        cause = error.__cause__
        cause_name = type(cause).__name__ if cause is not None else "ConnectionError"
        never_written = isinstance(cause, requests.exceptions.ConnectTimeout) or (
            isinstance(cause, requests.exceptions.ConnectionError) and "refused" in str(cause).lower()
        )
        if never_written:
            return Attempt(Outcome.NOT_SENT, error_class=cause_name)
        return Attempt(Outcome.MAYBE_SENT, error_class=cause_name, settles_after=in_flight_bound)
    mapped = map_notify_error(error, email, key)
    error_class = names[0] if names else f"HTTP{status}"
    if status == 429:
        outcome = Outcome.DAILY_LIMITED if names == ["TooManyRequestsError"] else Outcome.RATE_LIMITED
        return Attempt(outcome, error=mapped, status_code=status, error_class=error_class)
    if status >= 500:
        settles = 0.0 if _answered_by_notify(error) else in_flight_bound
        return Attempt(
            Outcome.MAYBE_SENT, error=mapped, status_code=status, error_class=error_class, settles_after=settles
        )
    return Attempt(Outcome.FAILED, error=mapped, status_code=status, error_class=error_class)
