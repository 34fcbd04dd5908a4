"""The errors flask-dm-email raises.

``EmailError``, ``EmailTemplateError`` and ``EmailInvalidError`` keep the names of
``dmutils.email.exceptions`` so that code migrating from ``DMNotifyClient`` can keep its
``except`` clauses. Every message names the setting or input at fault and the fix; none
contains an email address, an API key or a callback token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class EmailError(Exception):
    """Base class of every error this extension raises about email.

    :param message: what went wrong and how to fix it (never an address or a secret).
    :param status_code: the HTTP status Notify answered with, if Notify answered.
    :param notify_errors: Notify's own ``errors`` list (``[{"error": ..., "message": ...}]``).
    :param reference: the reference of the email concerned, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        notify_errors: Sequence[dict[str, Any]] = (),
        reference: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.notify_errors = list(notify_errors)
        self.reference = reference

    def __str__(self) -> str:
        return self.message


class EmailConfigError(EmailError):
    """The extension's settings are missing, malformed or unsafe for the stage.

    Raised by :meth:`~flask_dm_email.DMEmail.init_app`. :attr:`problems` lists one
    ``(key, message)`` pair per problem; the message names the key and the fix.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        lines = [f"{key}: {message}" for key, message in self.problems]
        super().__init__(
            "flask-dm-email configuration is not valid:\n  " + "\n  ".join(lines)
        )


class EmailTemplateError(EmailError):
    """The template is unknown, or the personalisation does not fit it."""


class EmailInvalidError(EmailError):
    """The recipient address is not one GOV.UK Notify accepts."""


class RecipientNotAllowedError(EmailError):
    """The recipient may not be emailed on this stage or with this API key."""


class EmailRateLimitError(EmailError):
    """Notify refused the request because a rate limit or the daily limit was reached."""


class EmailAuthError(EmailError):
    """Notify refused the API key (wrong, revoked, or the server clock is off)."""


class EmailRequestError(EmailError):
    """Notify refused the request for another reason; its message says why."""


class EmailUnavailableError(EmailError):
    """Notify could not be reached or kept failing after every retry.

    Nothing is known to have been sent: it is safe to try again later with the same
    reference and ``allow_resend=False``.
    """


class EmailOutcomeUnknownError(EmailUnavailableError):
    """An attempt's outcome was unclear (a timeout, a lost response, a 5xx) and it could
    not yet be proved that Notify did not store the email, so it was not sent again.
    Retry a few minutes later with the same reference and ``allow_resend=False``: the
    reference is looked up first, so the email is not sent twice.
    """


class OutboxStateError(EmailError):
    """An outbox action does not fit the email's status now (e.g. cancelling an email
    that is being sent); the message says what is possible."""


__all__ = [
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
    "RecipientNotAllowedError",
]
