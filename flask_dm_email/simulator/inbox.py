"""The inbox: HTML pages where a developer reads the emails that would have been sent."""

from __future__ import annotations

import io
import re

from flask import Blueprint, Response, abort, render_template, send_file
from markupsafe import Markup

from .state import current_state

# JSON can smuggle in lone surrogates ("\ud800"), which no page can be encoded with.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def showable(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so it can be sent as UTF-8."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def create_inbox_blueprint() -> Blueprint:
    """Build the blueprint serving the inbox pages and sent files."""
    blueprint = Blueprint("inbox", __name__, url_prefix="/_simulator", template_folder="templates")
    blueprint.add_url_rule("/inbox", view_func=inbox, methods=["GET"])
    blueprint.add_url_rule("/inbox/<notification_id>", view_func=message_page, methods=["GET"])
    blueprint.add_url_rule("/documents/<document_id>", view_func=document, methods=["GET"])
    return blueprint


def inbox() -> str:
    """Every stored email, newest first."""
    return showable(render_template("inbox.html", messages=current_state().messages()))


def message_page(notification_id: str) -> str:
    """One email, rendered the way Notify renders email HTML."""
    state = current_state()
    found = state.message(notification_id)
    html = state.message_html(notification_id)
    if found is None or html is None:
        abort(404)
    # The HTML Notify would send: every piece of text in it was escaped when it was rendered.
    html_body = Markup(html)  # noqa: S704
    return showable(render_template("message.html", message=found, html_body=html_body))


def document(document_id: str) -> Response:
    """A file sent with send-a-file, offered as a download."""
    state = current_state()
    with state.lock:
        stored = state.documents.get(document_id)
    if stored is None:
        abort(404)
    return send_file(io.BytesIO(stored.content), as_attachment=True,
                     download_name=showable(stored.filename or f"{document_id}.bin"),
                     mimetype="application/octet-stream")
