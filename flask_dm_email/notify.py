"""The ``notify`` backend: send through GOV.UK Notify with notifications-python-client.

Reliability rules, in order of importance:

* never send an email twice: when a response may have been lost (a timeout, a dropped
  connection, a 5xx after the request reached Notify), Notify is asked for the
  reference before anything is sent again;
* never report success for an email Notify did not accept;
* retry only what a retry can fix (connection errors, timeouts, 5xx, the per-minute
  429), with capped exponential backoff and full jitter, bounded by attempts and time;
* keep Notify's own message in every error, and say what to fix.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from .api_keys import key_name
from .backends import OutgoingEmail
from .config import RetryPolicy
from .errors import (
    EmailAuthError,
    EmailError,
    EmailInvalidError,
    EmailOutcomeUnknownError,
    EmailRateLimitError,
    EmailRequestError,
    EmailTemplateError,
    EmailUnavailableError,
    RecipientNotAllowedError,
)

logger = logging.getLogger("flask_dm_email.notify")

# Statuses of an earlier notification that mean "do not send again" for allow_resend=False.
# Temporary and technical failures never reached the person, so those may be resent.
_SENT_STATUSES = frozenset({"created", "sending", "pending", "sent", "delivered", "permanent-failure"})
# How far before this send's first attempt a notification found by reference may have
# been created and still be this send's own (clock skew between us and Notify).
_LOOKUP_SKEW = timedelta(seconds=5)
_NOTIFY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

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


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff before attempt ``attempt + 1`` (``attempt`` ≥ 1)."""
    ceiling = min(policy.max_backoff, policy.backoff * (2 ** (attempt - 1)))
    return float(ceiling * rand())


def _failure_kind(error: APIError) -> str:
    """Classify a failed request.

    ``not_sent``: the request never reached Notify, so resending is safe;
    ``maybe_sent``: it may have been stored (look the reference up before resending);
    ``rate``: the per-minute rate limit; ``final``: retrying cannot help.
    """
    status = error.response.status_code if error.response is not None else None
    if status is None:
        cause = error.__cause__
        if isinstance(cause, requests.exceptions.ConnectTimeout):
            return "not_sent"
        if isinstance(cause, requests.exceptions.ConnectionError) and "refused" in str(cause).lower():
            return "not_sent"
        return "maybe_sent"
    if status == 429:
        return "rate" if _notify_error_names(error) != ["TooManyRequestsError"] else "final"
    if status >= 500:
        return "maybe_sent"
    return "final"


def _notify_errors(error: APIError) -> list[dict[str, Any]]:
    message = error.message
    if isinstance(message, list):
        return [m for m in message if isinstance(m, dict)]
    return [{"error": "HTTPError", "message": str(message)}]


def _notify_error_names(error: APIError) -> list[str]:
    return [str(e.get("error")) for e in _notify_errors(error)]


def map_notify_error(error: APIError, email: OutgoingEmail, key: str | None) -> EmailError:
    """Turn Notify's refusal into the error class a caller can act on."""
    errors = _notify_errors(error)
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


def _parse_notify_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), _NOTIFY_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


class NotifyBackend:
    """Send through Notify. One client per thread: the client is not thread-safe."""

    name = "notify"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        client_class: type[NotificationsAPIClient] = NotificationsAPIClient,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._client_class = client_class
        self._local = threading.local()

    @property
    def client(self) -> NotificationsAPIClient:
        """This thread's Notify client (each has its own connection pool)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._client_class(
                self._api_key, base_url=self._base_url, timeout=self._retry.timeout
            )
            self._local.client = client
        return client

    def find_sent(self, reference: str) -> Mapping[str, Any] | None:
        """The newest notification with ``reference`` that counts as sent, if any."""
        try:
            found = self._find(reference, since=None)
        except APIError as error:
            raise EmailUnavailableError(
                f"Could not ask Notify whether reference {reference} was already sent "
                f"({error.status_code}); nothing was sent. Try again later.",
                reference=reference,
                status_code=error.status_code,
            ) from error
        return found

    def _find(self, reference: str, since: datetime | None) -> Mapping[str, Any] | None:
        response = self.client.get_all_notifications(reference=reference)  # type: ignore[no-untyped-call]
        for notification in response.get("notifications", []):
            if notification.get("status") not in _SENT_STATUSES:
                continue
            created = _parse_notify_time(notification.get("created_at"))
            if since is not None and (created is None or created < since - _LOOKUP_SKEW):
                continue
            return dict(notification)
        return None

    def send(self, email: OutgoingEmail) -> Mapping[str, Any]:
        policy = self._retry
        started = self._clock()
        started_at = datetime.now(UTC)
        maybe_sent = False
        last_error: APIError | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                if maybe_sent:
                    found = self._find(email.reference, since=started_at)
                    if found is not None:
                        logger.info(
                            "Notify had stored email with ref %s after a lost response; not resending",
                            email.reference,
                            extra={"ref": email.reference, "email_address": email.to_hash},
                        )
                        return found
                return dict(
                    self.client.send_email_notification(  # type: ignore[no-untyped-call]
                        email.to,
                        email.template_id,
                        personalisation=dict(email.personalisation) if email.personalisation else None,
                        reference=email.reference,
                        email_reply_to_id=email.reply_to_id,
                    )
                )
            except APIError as error:
                kind = _failure_kind(error)
                if kind == "final":
                    raise map_notify_error(error, email, self._api_key) from error
                maybe_sent = maybe_sent or kind == "maybe_sent"
                last_error = error
            delay = backoff_delay(attempt, policy)
            elapsed = self._clock() - started
            if attempt >= policy.max_attempts or elapsed + delay > policy.deadline:
                break
            logger.warning(
                "Notify send attempt %s for ref %s failed (%s); retrying in %.2fs",
                attempt,
                email.reference,
                last_error.status_code,
                delay,
                extra={"ref": email.reference, "email_address": email.to_hash},
            )
            self._sleep(delay)
        raise self._give_up(email, last_error, attempt, maybe_sent)

    def _give_up(
        self, email: OutgoingEmail, error: APIError | None, attempts: int, maybe_sent: bool
    ) -> EmailError:
        assert error is not None  # the loop only ends after a failure
        if _failure_kind(error) == "rate":
            return map_notify_error(error, email, self._api_key)
        if maybe_sent:
            return EmailOutcomeUnknownError(
                f"Notify did not answer reliably after {attempts} attempts (reference "
                f"{email.reference}, last status {error.status_code}) and it could not be "
                "confirmed whether the email was stored. Retry later with the same reference "
                "and allow_resend=False: the reference is looked up first, so it is not sent twice.",
                status_code=error.status_code,
                notify_errors=_notify_errors(error),
                reference=email.reference,
            )
        return EmailUnavailableError(
            f"Notify could not be reached after {attempts} attempts (reference "
            f"{email.reference}, last status {error.status_code}); nothing was sent. Check "
            "DM_NOTIFY_BASE_URL and try again later.",
            status_code=error.status_code,
            notify_errors=_notify_errors(error),
            reference=email.reference,
        )
