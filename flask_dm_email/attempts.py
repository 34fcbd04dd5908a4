"""What one attempt to hand an email to Notify did: a value, not an exception.

The synchronous retry loop (:meth:`flask_dm_email.notify.NotifyBackend.send`) and the
outbox worker both act on these; the worker stores the next step in the database
instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import EmailError


class Outcome(StrEnum):
    """The six things an attempt can end in."""

    #: Notify stored it (201), or a lookup found it; ``response`` is Notify's body.
    SENT = "sent"
    #: Certainly never reached Notify (connection refused, connect timeout): resend.
    NOT_SENT = "not-sent"
    #: May have been stored (a timeout, a reset after the request was written, a 5xx):
    #: look the reference up, no sooner than ``settles_after``, before any resend.
    MAYBE_SENT = "maybe-sent"
    #: Notify's per-minute limit (429 RateLimitError): not stored; try again later
    #: without counting an attempt.
    RATE_LIMITED = "rate-limited"
    #: Notify's daily limit (429 TooManyRequestsError): not stored; hold until 00:00 UTC.
    DAILY_LIMITED = "daily-limited"
    #: Refused for a reason a retry cannot fix (4xx); ``error`` says what to fix.
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    """One attempt's outcome.

    :param outcome: see :class:`Outcome`.
    :param response: Notify's response (``SENT``).
    :param error: the error a caller would see if this were the last attempt.
    :param status_code: the HTTP status, or None when there was no response.
    :param error_class: Notify's error name (``RateLimitError``, ``BadRequestError``, ...)
        or the kind of transport failure (``ReadTimeout``, ``ConnectionError``).
    :param settles_after: for ``MAYBE_SENT``, seconds after the attempt began before a
        lookup that finds nothing proves the email was not stored: 0 when Notify itself
        answered, the in-flight bound when the request may still be on its way.
    """

    outcome: Outcome
    response: Mapping[str, Any] | None = field(default=None, repr=False)
    error: EmailError | None = None
    status_code: int | None = None
    error_class: str | None = None
    settles_after: float = 0.0
