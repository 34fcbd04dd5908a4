"""flask-dm-email: send GOV.UK Notify email safely from Flask apps on every stage."""

from __future__ import annotations

from notifications_python_client.utils import prepare_upload

from .backends import OutgoingEmail, SentEmail
from .errors import (
    EmailAuthError,
    EmailConfigError,
    EmailError,
    EmailInvalidError,
    EmailOutcomeUnknownError,
    EmailRateLimitError,
    EmailRequestError,
    EmailTemplateError,
    EmailUnavailableError,
    OutboxStateError,
    RecipientNotAllowedError,
)
from .extension import DMEmail
from .outbox import QueuedEmail, queue_email
from .sending import send_email
from .state import get_state

__version__ = "0.1.0.dev0"

__all__ = [
    "DMEmail",
    "EmailAuthError",
    "EmailConfigError",
    "EmailError",
    "EmailInvalidError",
    "EmailOutcomeUnknownError",
    "EmailRateLimitError",
    "EmailRequestError",
    "EmailTemplateError",
    "EmailUnavailableError",
    "OutboxStateError",
    "OutgoingEmail",
    "QueuedEmail",
    "RecipientNotAllowedError",
    "SentEmail",
    "get_state",
    "prepare_upload",
    "queue_email",
    "send_email",
]
