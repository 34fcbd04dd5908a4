"""The simulator's Flask app factory."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, redirect, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from .admin import create_admin_blueprint
from .api_notifications import register_notification_routes
from .api_templates import register_template_routes
from .inbox import create_inbox_blueprint, favicon
from .jsonio import (
    METHOD_NOT_ALLOWED_MESSAGE,
    NOT_FOUND_MESSAGE,
    NOTIFY_HEADERS,
    ApiError,
    app_error_response,
    error_response,
    json_response,
)
from .state import EXTENSION_KEY, SimulatorState
from .v2 import before_v2_request

logger = logging.getLogger(__name__)


def create_v2_blueprint() -> Blueprint:
    """The ``/v2`` API: every route behind the authentication hook."""
    blueprint = Blueprint("v2", __name__, url_prefix="/v2")
    blueprint.before_request(before_v2_request)
    register_notification_routes(blueprint)
    register_template_routes(blueprint)
    return blueprint


def create_app(state: SimulatorState) -> Flask:
    """Build a simulator app serving ``state``: the v2 API, admin API and inbox."""
    app = Flask(__name__)
    app.extensions[EXTENSION_KEY] = state
    app.register_blueprint(create_v2_blueprint())
    app.register_blueprint(create_admin_blueprint())
    app.register_blueprint(create_inbox_blueprint())

    @app.get("/_status")
    def status() -> Response:
        return json_response({"status": "ok"})

    @app.get("/")
    def index() -> WerkzeugResponse:
        return redirect(url_for("inbox.inbox"))

    app.add_url_rule("/favicon.ico", "favicon", favicon, methods=["GET"])

    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(404, lambda error: app_error_response(404, NOT_FOUND_MESSAGE))
    app.register_error_handler(405, lambda error: app_error_response(405, METHOD_NOT_ALLOWED_MESSAGE))
    app.register_error_handler(Exception, _unhandled)
    app.after_request(_add_notify_headers)
    return app


def _unhandled(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return app_error_response(error.code or 500, error.description or error.name)
    logger.exception("Notify simulator: unhandled error")
    # Notify names the exception class and hides the details.
    return error_response(ApiError(500, type(error).__name__, "Internal server error"))


def _add_notify_headers(response: Response) -> Response:
    for name, value in NOTIFY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
