"""The inbox: HTML pages where a developer reads the emails that would have been sent."""

from __future__ import annotations

import io
import math
import re

from flask import Blueprint, Response, abort, render_template, request, send_file
from markupsafe import Markup

from .state import current_state
from .timeutil import human_time

#: Emails per inbox page: enough to scan, few enough to load at once with thousands stored.
PAGE_SIZE = 50
#: References longer than this are cut in the list (the whole one is in the title and on the email's page).
SHORT_REFERENCE = 40

# JSON can smuggle in lone surrogates ("\ud800"), which no page can be encoded with.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="4" fill="#1d70b8"/>'
    '<path d="M6 10h20v12H6z" fill="none" stroke="#fff" stroke-width="2"/>'
    '<path d="M6 10l10 7 10-7" fill="none" stroke="#fff" stroke-width="2"/></svg>'
)


def showable(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so it can be sent as UTF-8."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def shortened(text: str | None, limit: int = SHORT_REFERENCE) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for narrow table cells."""
    if text is None or len(text) <= limit:
        return text or ""
    return text[: limit - 1] + "\u2026"


def create_inbox_blueprint() -> Blueprint:
    """Build the blueprint serving the inbox pages, sent files and the icon."""
    blueprint = Blueprint("inbox", __name__, url_prefix="/_simulator", template_folder="templates")
    blueprint.add_url_rule("/inbox", view_func=inbox, methods=["GET"])
    blueprint.add_url_rule("/inbox/<notification_id>", view_func=message_page, methods=["GET"])
    blueprint.add_url_rule("/documents/<document_id>", view_func=document, methods=["GET"])
    blueprint.add_url_rule("/favicon.svg", view_func=favicon, methods=["GET"])
    blueprint.add_app_template_filter(human_time, "human_time")
    blueprint.add_app_template_filter(shortened, "shortened")
    return blueprint


def _page_number() -> int:
    raw = request.args.get("page", "1")
    # Anything but a sensible whole number shows the first page.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 and int(raw) > 0 else 1


def inbox() -> str:
    """Stored emails, newest first, :data:`PAGE_SIZE` to a page (``?page=N``)."""
    state = current_state()
    page = _page_number()
    messages, total = state.message_page((page - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if page > pages:
        page = pages
        messages, total = state.message_page((page - 1) * PAGE_SIZE, PAGE_SIZE)
    first = (page - 1) * PAGE_SIZE + 1
    return showable(render_template("inbox.html", messages=messages, total=total, page=page, pages=pages,
                                    first=first, last=first + len(messages) - 1))


def message_page(notification_id: str) -> str:
    """One email, with the HTML body Notify would send."""
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


def favicon() -> Response:
    """The inbox's icon (also served at ``/favicon.ico``, where browsers look first)."""
    return Response(FAVICON, mimetype="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
