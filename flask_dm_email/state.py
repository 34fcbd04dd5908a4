"""Per-app state: what one Flask app needs to send and to take callbacks, built once at
``init_app`` and stored in ``app.extensions["dm_email"]``.

Everything that sends (the send path, the CLI, later the outbox worker) and everything
that receives (the callback blueprint) reads this module; it reads none of them, so the
package has no import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from .backends import EmailBackend
from .config import Settings
from .recipients import RecipientPolicy

if TYPE_CHECKING:
    from .outbox.runtime import OutboxRuntime
    from .pacer import Pacer

EXTENSION_KEY = "dm_email"

UserDeactivator = Callable[[str, Mapping[str, Any]], bool]
ComplaintHandler = Callable[[str, Mapping[str, Any]], Any]
StatusPageAuthorizer = Callable[[Any], bool]


@dataclass
class Hooks:
    """The functions an app registers with ``@dm_email.user_deactivator`` and
    ``@dm_email.complaint_handler``. One :class:`~flask_dm_email.DMEmail` owns one
    ``Hooks`` and shares it with every app it serves, so a hook registered after
    ``init_app`` still applies."""

    user_deactivator: UserDeactivator | None = None
    complaint_handler: ComplaintHandler | None = None
    status_page_authorizer: StatusPageAuthorizer | None = None


@dataclass
class DMEmailState:
    """Everything one app needs. Nothing here is read from config again per request."""

    settings: Settings
    backend: EmailBackend
    policy: RecipientPolicy
    hooks: Hooks = field(default_factory=Hooks)
    #: The outbox, or None on a stage without one.
    outbox: OutboxRuntime | None = None

    @property
    def pacer(self) -> Pacer | None:
        """The shared rate budget of the Notify backend; None for the log and memory
        backends, which send nothing to Notify."""
        return getattr(self.backend, "pacer", None)


def current_app_object() -> Flask:
    """The real app behind ``current_app``.

    :raises RuntimeError: outside an application context, saying how to get one.
    """
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
        app = current_app_object()
    state = app.extensions.get(EXTENSION_KEY)
    if state is None:
        raise RuntimeError(
            "The current Flask app is not registered with DMEmail. Did you forget to call "
            "DMEmail().init_app(app)?"
        )
    return state  # type: ignore[no-any-return]
