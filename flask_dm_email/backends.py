"""Where an email goes once the recipient policy has decided its address.

Every backend takes an :class:`OutgoingEmail` and returns Notify's response shape (at
least ``id``), so the caller gets the same :class:`~flask_dm_email.SentEmail` whichever
backend is configured. ``notify`` lives in :mod:`flask_dm_email.notify`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import forksafe

logger = logging.getLogger("flask_dm_email.backends")


@dataclass(frozen=True)
class OutgoingEmail:
    """One email on its way out, after the recipient policy.

    ``to`` is the final address (after any redirect) and ``to_hash`` the hash of the
    address the caller asked for. Neither the address nor the personalisation is in the
    ``repr``, so logging an ``OutgoingEmail`` leaks nothing.
    """

    to: str = field(repr=False)
    template_id: str
    reference: str
    to_hash: str
    personalisation: Mapping[str, Any] | None = field(default=None, repr=False)
    reply_to_id: str | None = None
    template_name: str | None = None
    redirected: bool = False
    redirect_reason: str | None = None


@dataclass(frozen=True)
class SentEmail:
    """What :func:`~flask_dm_email.send_email` returns.

    :param id: Notify's notification id (a local UUID for the ``log`` and ``memory``
        backends); for ``already_sent`` results, the id of the earlier notification.
    :param reference: the reference sent with the email.
    :param template_id: the Notify template id.
    :param template_name: the name it was asked for by, if any.
    :param redirected: whether the recipient was rewritten by the redirect map.
    :param redirect_reason: why it was rewritten (no address in it).
    :param backend: ``notify``, ``log`` or ``memory``.
    :param already_sent: ``True`` when ``allow_resend=False`` found an earlier email with
        this reference, so nothing was sent this time.
    :param response: Notify's response body (or the backend's stand-in).
    """

    id: str
    reference: str
    template_id: str
    template_name: str | None
    redirected: bool
    redirect_reason: str | None
    backend: str
    already_sent: bool = False
    response: Mapping[str, Any] = field(default_factory=dict, repr=False)


class EmailBackend(Protocol):
    """The small protocol every backend implements."""

    name: str

    def send(self, email: OutgoingEmail) -> Mapping[str, Any]:
        """Send (or keep, or log) the email; return a Notify-shaped response with ``id``.

        Raise an :class:`~flask_dm_email.errors.EmailError` subclass on failure.
        """

    def find_sent(self, reference: str) -> Mapping[str, Any] | None:
        """Return an earlier notification with this reference that counts as sent."""


class LogBackend:
    """No Notify key: log each email instead of sending it, in one log record.

    :param show_content: on development, the record shows the email it would have sent
        (recipient, template, reference, personalisation): showing it is this backend's
        job there, and a password-reset link can be followed from the terminal. Anywhere
        else it holds the hashed address and the personalisation *keys* only.
    """

    name = "log"
    #: The record this backend writes says everything: the send path adds no other line.
    logs_each_email = True

    def __init__(self, *, show_content: bool = False) -> None:
        self.show_content = show_content

    def send(self, email: OutgoingEmail) -> Mapping[str, Any]:
        notification_id = str(uuid.uuid4())
        extra = {
            "email_address": email.to_hash,
            "template_id": email.template_id,
            "ref": email.reference,
            "notification_id": notification_id,
        }
        template = email.template_name or email.template_id
        if self.show_content:
            lines = [
                "Email not sent (log backend: there is no DM_NOTIFY_KEY). It would have been:",
                f"  to:        {email.to}" + (" (redirected to the safe address)" if email.redirected else ""),
                f"  template:  {template}",
                f"  reference: {email.reference}",
            ]
            if email.personalisation:
                lines.append("  personalisation:")
                lines += [f"    {key}: {value}" for key, value in email.personalisation.items()]
            logger.info("\n".join(lines), extra=extra)
        else:
            logger.info(
                "Email not sent (log backend): template %s to %s with ref %s, personalisation keys %s",
                template,
                email.to_hash,
                email.reference,
                sorted(email.personalisation or {}),
                extra=extra,
            )
        return {"id": notification_id, "reference": email.reference}

    def find_sent(self, reference: str) -> Mapping[str, Any] | None:
        return None


class MemoryBackend:
    """The test stage's default: keep every email in :attr:`sent`, send nothing."""

    name = "memory"

    def __init__(self) -> None:
        self._lock = forksafe.Lock()
        #: Every email "sent", oldest first.
        self.sent: list[OutgoingEmail] = []
        self._ids: dict[str, str] = {}

    @property
    def outbox(self) -> list[OutgoingEmail]:
        """The old name of :attr:`sent` (kept so existing tests work; not the durable
        outbox)."""
        return self.sent

    def send(self, email: OutgoingEmail) -> Mapping[str, Any]:
        notification_id = str(uuid.uuid4())
        with self._lock:
            self.sent.append(email)
            self._ids.setdefault(email.reference, notification_id)
        return {"id": notification_id, "reference": email.reference}

    def find_sent(self, reference: str) -> Mapping[str, Any] | None:
        with self._lock:
            notification_id = self._ids.get(reference)
        return None if notification_id is None else {"id": notification_id, "reference": reference}

    def clear(self) -> None:
        """Forget every email kept so far."""
        with self._lock:
            self.sent.clear()
            self._ids.clear()
