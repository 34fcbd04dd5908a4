"""The ``/_dm_email/`` blueprint and who may see it.

Off unless ``DM_EMAIL_STATUS_PAGE=true``. On preview, staging and production ``init_app``
refuses to turn it on without ``@dm_email.status_page_authorizer`` (a function of the
request returning True or False); on development and test everybody may see it unless one
is registered. A refused request gets 403, or 404 with ``DM_EMAIL_STATUS_PAGE_HIDDEN=true``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, jsonify, request

from ..config_keys import DM_EMAIL_STATUS_PAGE
from ..errors import EmailConfigError
from ..state import DMEmailState, current_app_object, get_state
from .actions import register_actions
from .feed import MAX_LIMIT, read_events
from .pages import register_pages

PREFIX = "/_dm_email"


def _allowed(state: DMEmailState) -> bool:
    authorizer = state.hooks.status_page_authorizer
    if authorizer is None:
        return not state.settings.stage.is_live
    return bool(authorizer(request))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(Response(f'{{"error": "{name} must be a whole number from {low} to {high}"}}\n', 400,
                       mimetype="application/json"))
    return int(raw)


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("dm_email_ops", __name__, url_prefix=PREFIX, template_folder="templates",
                          static_folder="static")

    @blueprint.before_request
    def check_access() -> None:
        state = get_state()
        if not _allowed(state):
            abort(404 if state.settings.status_page_hidden else 403)

    @blueprint.get("/events.json")
    def events() -> Response:
        runtime = get_state().outbox
        if runtime is None:
            abort(404)
        after = _int_arg("after", 0, 0, 2**62)
        limit = _int_arg("limit", 100, 1, MAX_LIMIT)
        return jsonify(read_events(runtime.store, after, limit))

    @blueprint.get("/metrics")
    def metrics() -> Response:
        from .metrics import exposition

        body, content_type = exposition(current_app_object())
        return Response(body, content_type=content_type)

    register_pages(blueprint)
    register_actions(blueprint)
    return blueprint


def register_operations(app: Flask, state: DMEmailState) -> None:
    """Mount the blueprint if ``DM_EMAIL_STATUS_PAGE`` is on (refusing an unguarded live stage)."""
    settings = state.settings
    if not settings.status_page:
        return
    if settings.stage.is_live and state.hooks.status_page_authorizer is None:
        raise EmailConfigError(
            [
                (
                    DM_EMAIL_STATUS_PAGE,
                    f"is on for {settings.stage.value}, where the page needs an authorizer: register one "
                    "before init_app with @dm_email.status_page_authorizer (a function of the request that "
                    "returns True for your team), or turn the page off.",
                )
            ]
        )
    app.register_blueprint(make_blueprint())
