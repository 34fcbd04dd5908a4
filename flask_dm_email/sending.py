"""The send path, cut in two so each half can run on its own.

* :func:`prepare` decides: it validates a :class:`SendRequest`, resolves the template,
  applies the recipient policy and computes the reference, giving an
  :class:`~flask_dm_email.backends.OutgoingEmail`. No network.
* :func:`deliver` acts: de-duplication lookup, the backend call, the log line, the
  signals and the :class:`~flask_dm_email.backends.SentEmail` result.

:func:`send_email` is the two together, in the caller's thread. The outbox runs
:func:`prepare` in the request and :func:`deliver`'s parts later, in a worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from .backends import OutgoingEmail, SentEmail
from .config import Settings
from .errors import EmailError, EmailTemplateError
from .formats import is_uuid
from .hashing import hash_string, make_reference
from .recipients import resolve_recipient, validate_email_address
from .signals import email_failed, email_sent
from .state import DMEmailState, current_app_object, get_state

logger = logging.getLogger("flask_dm_email")

#: Notify's limit on a reference.
MAX_REFERENCE_LENGTH = 1000


@dataclass(frozen=True)
class SendRequest:
    """What a caller asked for, before anything is decided. See :func:`send_email`."""

    to: str = field(repr=False)
    template: str
    personalisation: Mapping[str, Any] | None = field(default=None, repr=False)
    reference: str | None = None
    reply_to_id: str | None = None
    allow_resend: bool = True


def resolve_template(settings: Settings, template: str) -> tuple[str, str | None]:
    """``(template id, name)`` for a name in ``DM_NOTIFY_TEMPLATES`` or a template id."""
    if isinstance(template, str) and template in settings.templates:
        return settings.templates[template], template
    if is_uuid(template):
        return template.lower(), None
    known = ", ".join(sorted(settings.templates)) or "none configured"
    raise EmailTemplateError(
        f"Template {template!r} is neither a name in DM_NOTIFY_TEMPLATES ({known}) nor a "
        "Notify template id. Add it to DM_NOTIFY_TEMPLATES or pass the template's id."
    )


def _check_values(template: str, personalisation: Mapping[str, Any]) -> None:
    """Each value must travel as JSON (to Notify, and into the outbox's row)."""
    for name, value in personalisation.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise EmailTemplateError(
                f"personalisation {name!r} for template {template!r} must be text, a number, a list of those, "
                f"or a file from prepare_upload(); not {type(value).__name__}"
                + (" NaN or infinity." if isinstance(value, float) else ".")
            ) from None


def prepare(
    state: DMEmailState, request: SendRequest, *, max_reference: int = MAX_REFERENCE_LENGTH
) -> OutgoingEmail:
    """Validate ``request`` and decide everything about the email; raise an
    :class:`~flask_dm_email.errors.EmailError` subclass that says what to fix.

    :param max_reference: the longest caller reference allowed (the outbox lowers it to
        leave room for the suffix it adds).
    """
    template_id, template_name = resolve_template(state.settings, request.template)
    personalisation = request.personalisation
    if personalisation is not None and not isinstance(personalisation, Mapping):
        raise EmailTemplateError(
            f"personalisation for template {request.template!r} must be a dict of placeholder "
            f"names to values, not {type(personalisation).__name__}."
        )
    if personalisation:
        _check_values(request.template, personalisation)
    reference = request.reference
    if reference is not None and (not isinstance(reference, str) or len(reference) > max_reference):
        raise EmailTemplateError(f"reference must be a string of at most {max_reference} characters.")
    if request.reply_to_id is not None and not is_uuid(request.reply_to_id):
        raise EmailTemplateError(
            "reply_to_id must be a Notify reply-to address id (a UUID) from the "
            "service's 'Reply-to email addresses' settings."
        )
    original = validate_email_address(request.to)
    decision = resolve_recipient(original, state.policy)
    return OutgoingEmail(
        to=decision.address,
        template_id=template_id,
        reference=reference or make_reference(original, template_id, personalisation),
        to_hash=hash_string(original),
        personalisation=personalisation,
        reply_to_id=request.reply_to_id,
        template_name=template_name,
        redirected=decision.redirected,
        redirect_reason=decision.reason,
    )


def make_result(
    state: DMEmailState, email: OutgoingEmail, response: Mapping[str, Any], *, already_sent: bool
) -> SentEmail:
    """The caller's view of a send: Notify's id plus what was decided."""
    return SentEmail(
        id=str(response.get("id")),
        reference=email.reference,
        template_id=email.template_id,
        template_name=email.template_name,
        redirected=email.redirected,
        redirect_reason=email.redirect_reason,
        backend=state.backend.name,
        already_sent=already_sent,
        response=response,
    )


def report_failure(
    app: Flask, error: EmailError, email: OutgoingEmail | None, template: str, reference: str | None
) -> None:
    """Log a failed send (hashed address, error class) and send ``email_failed``."""
    logger.warning(
        "Email not sent (template %s, ref %s): %s",
        template,
        email.reference if email else reference,
        error.__class__.__name__,
        extra={"email_address": email.to_hash if email else None},
    )
    email_failed.send(app, email=email, error=error)


def report_sent(app: Flask, state: DMEmailState, email: OutgoingEmail, result: SentEmail) -> None:
    """Log an accepted send (hashed address, never the address) and send ``email_sent``."""
    if getattr(state.backend, "logs_each_email", False):
        email_sent.send(app, email=email, result=result)
        return
    logger.info(
        "Sent %s email with ref %s (template %s) through %s",
        email.to_hash,
        email.reference,
        email.template_name or email.template_id,
        state.backend.name,
        extra={
            "email_address": email.to_hash,
            "ref": email.reference,
            "template_id": email.template_id,
            "notification_id": result.id,
            "redirected": email.redirected,
        },
    )
    email_sent.send(app, email=email, result=result)


def find_earlier(state: DMEmailState, email: OutgoingEmail) -> SentEmail | None:
    """The result for an email Notify already has under this reference (not a
    temporary or technical failure), or None: the ``allow_resend=False`` check."""
    earlier = state.backend.find_sent(email.reference)
    if earlier is None:
        return None
    logger.info(
        "Email with ref %s (template %s) has already been sent to %s; not resending",
        email.reference,
        email.template_name or email.template_id,
        email.to_hash,
        extra={"ref": email.reference, "email_address": email.to_hash},
    )
    return make_result(state, email, earlier, already_sent=True)


def deliver(app: Flask, state: DMEmailState, email: OutgoingEmail, *, allow_resend: bool = True) -> SentEmail:
    """Hand a prepared email to the backend (after the de-duplication lookup when
    ``allow_resend`` is False), then log and signal. Errors propagate unreported:
    :func:`send_email` reports them."""
    if not allow_resend:
        earlier = find_earlier(state, email)
        if earlier is not None:
            return earlier
    response = state.backend.send(email)
    result = make_result(state, email, response, already_sent=False)
    report_sent(app, state, email, result)
    return result


def send_email(
    to: str,
    template: str,
    personalisation: Mapping[str, Any] | None = None,
    *,
    reference: str | None = None,
    allow_resend: bool = True,
    reply_to_id: str | None = None,
) -> SentEmail:
    """Send one email now, through the current app's backend.

    :param to: the recipient, before any redirect. Validated with Notify's rules.
    :param template: a name from ``DM_NOTIFY_TEMPLATES`` or a Notify template id.
    :param personalisation: the template's placeholders; a value may be a file from
        :func:`notifications_python_client.prepare_upload`.
    :param reference: defaults to the value ``dmutils`` computes from the original
        address, the template id and the personalisation values.
    :param allow_resend: if False, and Notify already has an email with this
        reference (not a temporary or technical failure), nothing is sent and the
        result has ``already_sent=True``. Several threads sending the same reference at
        the same instant may each find nothing and each send: Notify has no idempotency
        key. Where that matters, queue the email with a ``dedupe_key``.
    :param reply_to_id: a Notify reply-to address id.
    :raises ~flask_dm_email.errors.EmailError: a subclass that says what to fix.
    """
    # The outbox imports this module; importing it at call time keeps the arrows one way.
    from .outbox import sync_rows

    app = current_app_object()
    state = get_state(app)
    request = SendRequest(to, template, personalisation, reference, reply_to_id, allow_resend)
    email: OutgoingEmail | None = None
    row: tuple[str, str] | None = None
    try:
        email = prepare(state, request)
        if not allow_resend:
            earlier = find_earlier(state, email)
            if earlier is not None:
                return earlier
        row = sync_rows.start(state, email)  # None without an outbox
        result = deliver(app, state, email)
    except EmailError as error:
        if row is not None:
            sync_rows.failed(state, row, error)
        report_failure(app, error, email, template, reference)
        raise
    if row is not None:
        sync_rows.sent(state, row, result.response)
    return result
