"""Synchronous sends with the outbox on: each writes its row too, so receipts, reports
and the status page cover every email.

The email matters more than its record: if the outbox database cannot be written, the
email is still sent and the failure to record it is logged at ERROR. When a synchronous
send ends with its outcome unclear (:class:`~flask_dm_email.errors.EmailOutcomeUnknownError`),
its row is handed to the worker, which looks the email up once no request can still be
on its way and sends it only if Notify never got it: nothing is lost, nothing is sent
twice, and the caller must not send it again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from ..backends import OutgoingEmail
from ..errors import EmailError, EmailOutcomeUnknownError
from ..state import DMEmailState
from . import states
from .records import PRIORITIES

logger = logging.getLogger("flask_dm_email.outbox")


def start(state: DMEmailState, email: OutgoingEmail) -> tuple[str, str] | None:
    """Write the row of a send about to happen; ``(row id, claim token)``, or None when it
    could not be written (logged; the send goes on)."""
    runtime = state.outbox
    if runtime is None:
        return None
    row_id = str(uuid.uuid4())
    values = {
        "id": row_id, "priority": PRIORITIES["transactional"], "template_id": email.template_id,
        "template_name": email.template_name, "to_address": email.to,
        "personalisation": dict(email.personalisation) if email.personalisation else None,
        "to_hash": email.to_hash, "redirected": email.redirected, "reference": email.reference,
        "notify_reference": email.reference, "reply_to_id": email.reply_to_id,
    }
    try:
        token = runtime.store.insert_claimed(
            values, lease_seconds=runtime.settings.lease_seconds, abandon_after=runtime.settings.abandon_after
        )
    except Exception as error:
        logger.error("Could not record email with ref %s in the outbox (%s); sending it anyway",
                     email.reference, type(error).__name__, extra={"email_address": email.to_hash})
        return None
    return row_id, token


def _finish(state: DMEmailState, row: tuple[str, str], new: str, values: Mapping[str, Any], **kwargs: Any) -> None:
    runtime = state.outbox
    assert runtime is not None
    try:
        runtime.store.finish(row[0], row[1], new, values, **kwargs)
    except Exception as error:
        logger.error("Could not record the outcome of outbox row %s (%s); its lease will run out and a "
                     "worker will look it up", row[0], type(error).__name__)


def sent(state: DMEmailState, row: tuple[str, str], response: Mapping[str, Any]) -> None:
    _finish(state, row, states.SENT, {"notify_id": str(response.get("id")), "personalisation": None},
            kind="sent", http_status=201)


def failed(state: DMEmailState, row: tuple[str, str], error: EmailError) -> None:
    cls = (error.notify_errors[0].get("error") if error.notify_errors else None) or type(error).__name__
    if isinstance(error, EmailOutcomeUnknownError):
        # Unclear: the worker settles it (a lookup once nothing can still arrive).
        _finish(state, row, states.RETRYING,
                {"attempts": 1, "maybe_sent": True, "last_error_class": cls, "last_status_code": error.status_code},
                kind="maybe-sent", http_status=error.status_code, error_class=cls,
                delay=state.settings.retry.in_flight_bound, settles_in=state.settings.retry.in_flight_bound)
        return
    _finish(state, row, states.FAILED,
            {"attempts": 1, "last_error_class": cls, "last_status_code": error.status_code},
            kind="failed", http_status=error.status_code, error_class=cls)
