"""The :class:`DMEmail` extension: registration, per-app state and the send path."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context
from flask.logging import default_handler, has_level_handler

from .backends import EmailBackend, LogBackend, MemoryBackend, OutgoingEmail, SentEmail
from .config import Settings, load_settings
from .errors import EmailError, EmailTemplateError
from .formats import is_uuid
from .hashing import hash_string, make_reference
from .recipients import RecipientPolicy, resolve_recipient, validate_email_address
from .signals import email_failed, email_sent

logger = logging.getLogger("flask_dm_email")

EXTENSION_KEY = "dm_email"

DeactivatorT = TypeVar("DeactivatorT", bound=Callable[[str, Mapping[str, Any]], bool])
ComplaintHandlerT = TypeVar("ComplaintHandlerT", bound=Callable[[str, Mapping[str, Any]], Any])


@dataclass
class DMEmailState:
    """Everything one app needs, built once at ``init_app`` and stored in
    ``app.extensions["dm_email"]``. Nothing here is read from config again per request."""

    extension: DMEmail
    settings: Settings
    backend: EmailBackend
    policy: RecipientPolicy


def _make_backend(settings: Settings) -> EmailBackend:
    if settings.backend == "memory":
        return MemoryBackend()
    if settings.backend == "log":
        return LogBackend()
    from .notify import NotifyBackend

    assert settings.notify_key is not None  # check_stage_rules guarantees it
    return NotifyBackend(settings.notify_key, settings.notify_base_url, settings.retry)


class DMEmail:
    """Send GOV.UK Notify email safely from a Flask app, on every stage.

    ::

        dm_email = DMEmail()

        def create_app():
            app = Flask(__name__)
            dm_email.init_app(app)
            return app

    One ``DMEmail`` may serve several apps (each keeps its own state in
    ``app.extensions["dm_email"]``); hooks registered with :meth:`user_deactivator` and
    :meth:`complaint_handler` apply to every app it serves.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self._user_deactivator: Callable[[str, Mapping[str, Any]], bool] | None = None
        self._complaint_handler: Callable[[str, Mapping[str, Any]], Any] | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read and validate the app's settings, build its backend and mount the callback
        blueprint. (``flask dm-email`` comes from the package's ``flask.commands`` entry
        point.)

        :raises RuntimeError: if the app is already registered.
        :raises ~flask_dm_email.errors.EmailConfigError: if the settings are invalid or
            unsafe for the stage; the message lists every problem with its fix.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "A 'DMEmail' instance has already been registered on this Flask app. "
                "Call init_app once per app (import and reuse the existing instance)."
            )
        settings = load_settings(app.config, testing=app.testing)
        state = DMEmailState(
            extension=self,
            settings=settings,
            backend=_make_backend(settings),
            policy=RecipientPolicy(
                redirects=dict(settings.redirects or {}),
                allowed=settings.allowed_recipients,
                stage=settings.stage.value,
            ),
        )
        app.extensions[EXTENSION_KEY] = state
        if settings.stage.value == "development" and not has_level_handler(logger):
            # As Flask does for app.logger: on a laptop, show our INFO lines (the log
            # backend's "email not sent" line above all) unless logging is configured.
            logger.addHandler(default_handler)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
        if settings.callbacks_enabled:
            from .callback_blueprint import register_callbacks

            register_callbacks(app, state)
        logger.debug(
            "flask-dm-email ready: stage %s, backend %s", settings.stage.value, settings.backend
        )

    # -- hooks ---------------------------------------------------------------------

    def user_deactivator(self, fn: DeactivatorT) -> DeactivatorT:
        """Register ``fn(email_address, receipt) -> bool``, called when Notify reports a
        ``permanent-failure``. Return True if an active user was deactivated. It must be
        idempotent: Notify may deliver the same receipt more than once. If it raises, the
        callback answers 500 and Notify retries. Returns ``fn`` unchanged."""
        self._user_deactivator = fn
        return fn

    def complaint_handler(self, fn: ComplaintHandlerT) -> ComplaintHandlerT:
        """Register ``fn(email_address, complaint)``, called when a recipient marks an
        email as spam. Same failure semantics as :meth:`user_deactivator`."""
        self._complaint_handler = fn
        return fn

    @property
    def registered_user_deactivator(self) -> Callable[[str, Mapping[str, Any]], bool] | None:
        """The function registered with :meth:`user_deactivator`, or None."""
        return self._user_deactivator

    @property
    def registered_complaint_handler(self) -> Callable[[str, Mapping[str, Any]], Any] | None:
        """The function registered with :meth:`complaint_handler`, or None."""
        return self._complaint_handler

    # -- sending -------------------------------------------------------------------

    def send_email(
        self,
        to: str,
        template: str,
        personalisation: Mapping[str, Any] | None = None,
        *,
        reference: str | None = None,
        allow_resend: bool = True,
        reply_to_id: str | None = None,
    ) -> SentEmail:
        """Send one email through the current app's backend.

        :param to: the recipient, before any redirect. Validated with Notify's rules.
        :param template: a name from ``DM_NOTIFY_TEMPLATES`` or a Notify template id.
        :param personalisation: the template's placeholders; a value may be a file from
            :func:`notifications_python_client.prepare_upload`.
        :param reference: defaults to the value ``dmutils`` computes from the original
            address, the template id and the personalisation values.
        :param allow_resend: if False, and Notify already has an email with this
            reference (not a temporary or technical failure), nothing is sent and the
            result has ``already_sent=True``.
        :param reply_to_id: a Notify reply-to address id.
        :raises ~flask_dm_email.errors.EmailError: a subclass that says what to fix.
        """
        app = _current_app()
        state = get_state(app)
        email: OutgoingEmail | None = None
        try:
            email = self._prepare(state, to, template, personalisation, reference, reply_to_id)
            if not allow_resend:
                earlier = state.backend.find_sent(email.reference)
                if earlier is not None:
                    logger.info(
                        "Email with ref %s (template %s) has already been sent to %s; not resending",
                        email.reference,
                        email.template_name or email.template_id,
                        email.to_hash,
                        extra={"ref": email.reference, "email_address": email.to_hash},
                    )
                    return _result(state, email, earlier, already_sent=True)
            response = state.backend.send(email)
        except EmailError as error:
            logger.warning(
                "Email not sent (template %s, ref %s): %s",
                template,
                email.reference if email else reference,
                error.__class__.__name__,
                extra={"email_address": email.to_hash if email else None},
            )
            email_failed.send(app, email=email, error=error)
            raise
        result = _result(state, email, response, already_sent=False)
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
        return result

    @staticmethod
    def _prepare(
        state: DMEmailState,
        to: str,
        template: str,
        personalisation: Mapping[str, Any] | None,
        reference: str | None,
        reply_to_id: str | None,
    ) -> OutgoingEmail:
        template_id, template_name = _resolve_template(state.settings, template)
        if personalisation is not None and not isinstance(personalisation, Mapping):
            raise EmailTemplateError(
                f"personalisation for template {template!r} must be a dict of placeholder "
                f"names to values, not {type(personalisation).__name__}."
            )
        if reference is not None and (not isinstance(reference, str) or len(reference) > 1000):
            raise EmailTemplateError("reference must be a string of at most 1000 characters.")
        if reply_to_id is not None and not is_uuid(reply_to_id):
            raise EmailTemplateError(
                "reply_to_id must be a Notify reply-to address id (a UUID) from the "
                "service's 'Reply-to email addresses' settings."
            )
        original = validate_email_address(to)
        ref = reference or make_reference(original, template_id, personalisation)
        decision = resolve_recipient(original, state.policy)
        return OutgoingEmail(
            to=decision.address,
            template_id=template_id,
            reference=ref,
            to_hash=hash_string(original),
            personalisation=personalisation,
            reply_to_id=reply_to_id,
            template_name=template_name,
            redirected=decision.redirected,
            redirect_reason=decision.reason,
        )


def _resolve_template(settings: Settings, template: str) -> tuple[str, str | None]:
    if isinstance(template, str) and template in settings.templates:
        return settings.templates[template], template
    if is_uuid(template):
        return template.lower(), None
    known = ", ".join(sorted(settings.templates)) or "none configured"
    raise EmailTemplateError(
        f"Template {template!r} is neither a name in DM_NOTIFY_TEMPLATES ({known}) nor a "
        "Notify template id. Add it to DM_NOTIFY_TEMPLATES or pass the template's id."
    )


def _result(
    state: DMEmailState, email: OutgoingEmail, response: Mapping[str, Any], *, already_sent: bool
) -> SentEmail:
    return SentEmail(
        id=response.get("id"),
        reference=email.reference,
        template_id=email.template_id,
        template_name=email.template_name,
        redirected=email.redirected,
        redirect_reason=email.redirect_reason,
        backend=state.backend.name,
        already_sent=already_sent,
        response=response,
    )


def _current_app() -> Flask:
    if not has_app_context():
        raise RuntimeError(
            "flask-dm-email needs an application context. Call it inside a request, a CLI "
            "command or 'with app.app_context():'."
        )
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def get_state(app: Flask | None = None) -> DMEmailState:
    """The extension state of ``app`` (default: the current app).

    :raises RuntimeError: outside an app context, or if ``init_app`` was not called.
    """
    if app is None:
        app = _current_app()
    state = app.extensions.get(EXTENSION_KEY)
    if state is None:
        raise RuntimeError(
            "The current Flask app is not registered with DMEmail. Did you forget to call "
            "DMEmail().init_app(app)?"
        )
    return state  # type: ignore[no-any-return]


def send_email(
    to: str,
    template: str,
    personalisation: Mapping[str, Any] | None = None,
    *,
    reference: str | None = None,
    allow_resend: bool = True,
    reply_to_id: str | None = None,
) -> SentEmail:
    """Send an email through the current app's :class:`DMEmail`. Same arguments as
    :meth:`DMEmail.send_email`."""
    return get_state().extension.send_email(
        to,
        template,
        personalisation,
        reference=reference,
        allow_resend=allow_resend,
        reply_to_id=reply_to_id,
    )
