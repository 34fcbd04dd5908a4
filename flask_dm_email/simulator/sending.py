"""``POST /v2/notifications/email`` after auth, limits and schema: Notify's steps 5-13.

The steps run in Notify's order because that order decides which error a
request with several problems gets.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from . import defaults, files
from .addresses import format_address, is_smoke_test_address, strip_address
from .jsonio import ApiError, bad_request
from .limits import daily_limit_message, rate_limit_message
from .models import Document, Notification, Service, Template
from .sanitise import sanitise_personalisation
from .state import SimulatorState
from .templating import lookup_values, missing_personalisation, render_body, render_subject
from .timeutil import utcnow

logger = logging.getLogger(__name__)

MAX_EMAIL_BYTES = 2_000_000

TEAM_KEY_MESSAGE = "Can\u2019t send to this recipient using a team-only API key"
TRIAL_MODE_MESSAGE = (
    "Can\u2019t send to this recipient when service is in trial mode \u2013 see "
    "https://www.notifications.service.gov.uk/trial-mode"
)


@dataclass
class SendResult:
    """The 201 body and the stored notification (``None`` for smoke-test sends)."""

    body: dict[str, Any]
    notification: Notification | None


def _template(service: Service, template_id: str) -> Template:
    template = service.templates.get(str(uuid.UUID(template_id)))
    if template is None:
        # Notify's answer stays Notify's; the simulator's own terminal says how to add one.
        logger.warning(
            "Notify simulator: service %r (%s) has no template %s. Add it with POST "
            "/_simulator/services/%s/templates {\"id\", \"name\", \"subject\", \"body\"}, or name it in "
            "the app's DM_NOTIFY_TEMPLATES and restart `flask dm-email simulator`, which serves those.",
            service.name, service.id, template_id, service.id,
        )
    if template is None or template.hidden:
        raise bad_request("Template not found")
    if template.type != "email":
        raise bad_request(f"{template.type} template is not suitable for email notification")
    if template.archived:
        raise bad_request("Template has been deleted")
    return template


def _reply_to(service: Service, reply_to_id: str | None) -> str | None:
    if reply_to_id is None:
        default = service.default_reply_to()
        return default.email_address if default else None
    wanted = str(uuid.UUID(reply_to_id))
    for reply_to in service.reply_to:
        if reply_to.id == wanted and not reply_to.archived:
            return reply_to.email_address
    raise bad_request(f"email_reply_to_id {reply_to_id} does not exist in database for service id {service.id}")


def _utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8, failing as Notify does on a lone surrogate.

    JSON lets a client send ``"\\ud800"``; Python parses it into a string that
    cannot be encoded. Notify's size check (``content_size_in_bytes``) then
    raises UnicodeEncodeError, which its v2 handler answers as a 500.
    """
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(500, "UnicodeEncodeError", "Internal server error") from None


def _check_storable(reference: str | None) -> None:
    # Notify stores the reference with psycopg2, which raises UnicodeEncodeError for
    # a lone surrogate: a 500, and nothing is stored. Personalisation is stored
    # signed as ASCII-escaped JSON, so it never fails here.
    if reference is not None:
        _utf8_size(reference)


def check_recipient(service: Service, key_type: str, address: str) -> None:
    """Team keys (and live keys in trial mode) may only send to the team and guest list."""
    if key_type == "test":
        return
    if not (service.restricted or key_type == "team"):
        return
    if format_address(address) not in service.allowed_recipients():
        raise bad_request(TEAM_KEY_MESSAGE if key_type == "team" else TRIAL_MODE_MESSAGE)


def _attach_files(
    state: SimulatorState, service: Service, personalisation: dict[str, Any], url_root: str, smoke: bool
) -> tuple[dict[str, Any], list[Document]]:
    result = dict(personalisation)
    documents: list[Document] = []
    for key, value in personalisation.items():
        if not files.is_file_value(value):
            continue
        files.validate_file(value)
        if not service.contact_link:
            raise files.no_contact_link_error(defaults.ADMIN_BASE_URL, service.id)
        if smoke:
            # Notify uploads nothing for simulated recipients and links a fixed document.
            result[key] = f"{url_root}_simulator/services/{service.id}/documents/test-document"
            continue
        document = Document(
            id=str(uuid.uuid4()),
            service_id=service.id,
            content=files.decode_file(value),
            filename=value.get("filename"),
            confirm_email_before_download=files.confirm_before_download(value),
            retention_period=files.retention_period(value),
        )
        documents.append(document)
        result[key] = f"{url_root}_simulator/documents/{document.id}"
    return result, documents


def send_email(
    state: SimulatorState, service: Service, key_type: str, api_key_id: str, request: dict[str, Any], url_root: str
) -> SendResult:
    """Validate and (unless simulated) store one email; return Notify's 201 body."""
    with state.lock:
        if "email" not in service.permissions:
            raise bad_request("Service is not allowed to send emails")
        personalisation: dict[str, Any] = dict(request.get("personalisation") or {})
        sanitised: dict[str, dict[str, str]] = {}
        if request.get("sanitise_content_for"):
            personalisation, sanitised = sanitise_personalisation(personalisation, request["sanitise_content_for"])
        template = _template(service, request["template_id"])
        content = template.current
        template_body = content.body_for(personalisation)
        values = lookup_values(personalisation)
        missing = missing_personalisation(values, content.subject, template_body)
        if missing:
            raise bad_request(f"Missing personalisation: {', '.join(missing)}")
        if not render_body(template_body, values):
            raise bad_request("Your message is empty.")
        reply_to = _reply_to(service, request.get("email_reply_to_id"))
        to = strip_address(request["email_address"])
        check_recipient(service, key_type, to)
        smoke = is_smoke_test_address(to)
        personalisation, documents = _attach_files(state, service, personalisation, url_root, smoke)
        values = lookup_values(personalisation)
        body = render_body(template_body, values)
        size = _utf8_size(body)
        if size > MAX_EMAIL_BYTES:
            raise bad_request(
                f"Your message is too long. Emails cannot be longer than {MAX_EMAIL_BYTES} bytes. "
                f"Your message is {size} bytes."
            )
        notification_id = str(uuid.uuid4())
        subject = render_subject(content.subject, values)
        unsubscribe = request.get("one_click_unsubscribe_url")
        from_email = f"{service.email_sender_local_part}@{state.email_domain}"
        response = {
            "content": {"body": body, "from_email": from_email, "one_click_unsubscribe_url": unsubscribe,
                        "subject": subject},
            "id": notification_id,
            "reference": request.get("reference"),
            "sanitised_content": sanitised,
            "scheduled_for": None,
            "template": {"id": template.id, "uri": f"{url_root}services/{service.id}/templates/{template.id}",
                         "version": content.version},
            "uri": f"{url_root}v2/notifications/{notification_id}",
        }
        if smoke:
            return SendResult(response, None)
        _check_storable(request.get("reference"))
        outcome, complain = state.new_notification_outcome(to, key_type)
        notification = Notification(
            id=notification_id, service_id=service.id, template_id=template.id, template_version=content.version,
            template_name=content.name, key_type=key_type, api_key_id=api_key_id, to=to,
            personalisation=personalisation, reference=request.get("reference"), subject=subject, body=body,
            from_email=from_email, reply_to=reply_to, one_click_unsubscribe_url=unsubscribe,
            created_at=utcnow(), outcome=outcome, complain=complain,
            documents=[document.id for document in documents],
        )
        for document in documents:
            state.documents[document.id] = document
        state.store(notification)
        return SendResult(response, notification)


def check_rate_limit(state: SimulatorState, service: Service, key_type: str) -> None:
    """Notify's token bucket (after any forced 429): a refused request still spends a token."""
    with state.lock:
        forced = state.faults.take_force_429()
        if forced or not state.limiter.allow(service.id, key_type, service.rate_limit):
            state.stats.rate_limited += 1
            raise ApiError(429, "RateLimitError", rate_limit_message(key_type, service.rate_limit))


def check_limits(state: SimulatorState, service: Service, key_type: str) -> None:
    """Notify's ``check_rate_limiting``: the token bucket, then the daily limit."""
    check_rate_limit(state, service, key_type)
    with state.lock:
        if key_type != "test" and state.daily.would_exceed(service.id, service.email_message_limit):
            state.stats.daily_limited += 1
            raise ApiError(429, "TooManyRequestsError", daily_limit_message(service.email_message_limit))
