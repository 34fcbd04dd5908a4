"""The :class:`DMEmail` extension: registration and the hooks an app registers.

Sending lives in :mod:`flask_dm_email.sending`, per-app state in
:mod:`flask_dm_email.state`; this module wires them to a Flask app.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from flask import Flask
from flask.logging import default_handler, has_level_handler

from .backends import EmailBackend, LogBackend, MemoryBackend
from .config import Settings, load_settings
from .outbox import Outbox, queue_email
from .outbox.runtime import OutboxRuntime, build_runtime
from .pacing import LimitStore
from .pacing_settings import OUTBOX_STORE
from .recipients import RecipientPolicy
from .sending import send_email
from .stages import Stage
from .state import (
    EXTENSION_KEY,
    ComplaintHandler,
    DMEmailState,
    Hooks,
    StatusPageAuthorizer,
    UserDeactivator,
    get_state,
)

logger = logging.getLogger("flask_dm_email")

__all__ = ["DMEmail", "DMEmailState", "get_state", "send_email"]

DeactivatorT = TypeVar("DeactivatorT", bound=UserDeactivator)
ComplaintHandlerT = TypeVar("ComplaintHandlerT", bound=ComplaintHandler)
AuthorizerT = TypeVar("AuthorizerT", bound=StatusPageAuthorizer)


def _make_backend(settings: Settings) -> EmailBackend:
    if settings.backend == "memory":
        return MemoryBackend()
    if settings.backend == "log":
        return LogBackend(show_content=settings.stage is Stage.DEVELOPMENT)
    from .notify import NotifyBackend

    assert settings.notify_key is not None  # check_stage_rules guarantees it
    return NotifyBackend(settings.notify_key, settings.notify_base_url, settings.retry)


def _limit_store(settings: Settings, outbox: OutboxRuntime | None) -> LimitStore:
    """The store of the shared budget (opened on the first send, not at ``init_app``)."""
    if settings.pacing.store == OUTBOX_STORE:
        from .pacing.sql import SqlStore

        assert outbox is not None  # load_settings refuses 'outbox' without an outbox
        outbox.store  # noqa: B018 - on development and test, creates the tables on first use
        return SqlStore(outbox.database)
    from .pacing import open_store

    return open_store(settings.pacing.store)


def _pace(app: Flask, state: DMEmailState) -> None:
    """Give the Notify backend the shared budget every POST takes its turn from."""
    from .alerts import raise_alert
    from .notify import NotifyBackend
    from .pacer import Pacer

    backend, settings = state.backend, state.settings
    if isinstance(backend, NotifyBackend) and settings.notify_key:
        pacer = Pacer(settings.pacing, settings.notify_key, lambda: _limit_store(settings, state.outbox))
        pacer.on_alert = lambda kind, message, details: raise_alert(app, kind, message, details)
        if state.outbox is not None:
            from .outbox.holds import released_at

            outbox = state.outbox
            pacer.released_at = lambda: released_at(outbox.store)
        backend.pacer = pacer


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

    #: The current app's outbox: ``dm_email.outbox.get(id)``, ``.find(link=user)``,
    #: ``.cancel(id)``, ``.retry(id)``, ``.pause()``, ``.counts()``, ``.drain()``, ...
    outbox = Outbox()

    def __init__(self, app: Flask | None = None) -> None:
        self._hooks = Hooks()
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
            settings=settings,
            backend=_make_backend(settings),
            policy=RecipientPolicy(
                redirects=dict(settings.redirects or {}),
                allowed=settings.allowed_recipients,
                stage=settings.stage.value,
            ),
            hooks=self._hooks,
        )
        app.extensions[EXTENSION_KEY] = state
        state.outbox = build_runtime(app, settings)
        _pace(app, state)
        if state.outbox is not None and settings.stage is Stage.DEVELOPMENT and settings.outbox.embedded_worker:
            from .outbox import embedded

            embedded.install(app)
        if settings.stage.value == "development" and not has_level_handler(logger):
            # As Flask does for app.logger: on a laptop, show our INFO lines (the log
            # backend's "email not sent" line above all) unless logging is configured.
            logger.addHandler(default_handler)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
        from .ops import register_operations

        register_operations(app, state)
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
        self._hooks.user_deactivator = fn
        return fn

    def complaint_handler(self, fn: ComplaintHandlerT) -> ComplaintHandlerT:
        """Register ``fn(email_address, complaint)``, called when a recipient marks an
        email as spam. Same failure semantics as :meth:`user_deactivator`."""
        self._hooks.complaint_handler = fn
        return fn

    def status_page_authorizer(self, fn: AuthorizerT) -> AuthorizerT:
        """Register ``fn(request) -> bool``: who may see ``/_dm_email/`` (the status page,
        the event feed, the metrics). Required before ``init_app`` to turn the page on
        for preview, staging or production (``DM_EMAIL_STATUS_PAGE=true``). Returns ``fn``
        unchanged."""
        self._hooks.status_page_authorizer = fn
        return fn

    @property
    def registered_user_deactivator(self) -> UserDeactivator | None:
        """The function registered with :meth:`user_deactivator`, or None."""
        return self._hooks.user_deactivator

    @property
    def registered_complaint_handler(self) -> ComplaintHandler | None:
        """The function registered with :meth:`complaint_handler`, or None."""
        return self._hooks.complaint_handler

    # -- sending -------------------------------------------------------------------

    #: :func:`flask_dm_email.send_email`, as a method: the same function and signature.
    send_email = staticmethod(send_email)
    #: :func:`flask_dm_email.queue_email`, as a method: the same function and signature.
    queue_email = staticmethod(queue_email)
