"""The status page's HTML: the summary and the searchable list at ``/_dm_email/``, and a
page per email with its timeline at ``/_dm_email/emails/<id>``. Server-rendered, no
JavaScript; no address appears in any page (only its hash).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from ..outbox import MAY_HAVE_REACHED_NOTIFY, states
from ..outbox.records import QueuedEmail
from ..outbox.runtime import OutboxRuntime
from ..outbox.store import Store
from ..state import get_state
from . import csrf
from .search import PER_PAGE, Search, find_page, read_search
from .summary import age_text, recent_batches, summarise

#: What a finished action says on the page it returns to (``?done=``).
DONE = {
    "retried": "The email is queued again. A worker will send it shortly.",
    "cancelled": "The email is cancelled. Nothing more will be sent for it.",
    "cancelled-maybe-sent": f"The email is cancelled. {MAY_HAVE_REACHED_NOTIFY}",
    "paused": "The outbox is paused: no worker claims an email until you resume it. Emails are still queued.",
    "resumed": "The outbox is running again. Emails held over the daily limit are queued again.",
    "released": "The held emails are queued again, due now. If DM_NOTIFY_DAILY_LIMIT was the limit, they are "
                "held again until 00:00 UTC: raise it first.",
    "none-held": "No email is held.",
}
TAG_COLOURS = {
    states.DELIVERED: "green", states.PERMANENT_FAILURE: "red", states.TEMPORARY_FAILURE: "red",
    states.TECHNICAL_FAILURE: "red", states.FAILED: "red", states.HELD: "yellow", states.CANCELLED: "grey",
    states.RETRYING: "orange",
}


def time_text(value: float | datetime | None) -> str:
    """A time as the page shows it (UTC, to the second)."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).strftime("%d %b %Y %H:%M:%S UTC")


def _iso(value: float | datetime | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.isoformat()


class Unavailable(Exception):
    """The page cannot be shown: no outbox, or its database cannot be read."""

    def __init__(self, title: str, message: str, status: int) -> None:
        super().__init__(message)
        self.title, self.message, self.status = title, message, status


def store() -> Store:
    """The current app's outbox store, or :class:`Unavailable` saying how to get one."""
    return runtime().store


def runtime() -> OutboxRuntime:
    """The current app's outbox, or :class:`Unavailable` saying how to get one."""
    state = get_state()
    if state.outbox is None:
        raise Unavailable(
            "This app has no outbox",
            f"The status page shows the outbox, and there is none on {state.settings.stage.value}: set "
            "DM_EMAIL_OUTBOX_URL to 'sqlalchemy' or a database URL.", 404,
        )
    return state.outbox


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render one of the page's templates with the helpers every template uses."""
    done = request.args.get("done", "")
    page = render_template(
        f"dm_email_ops/{template}", statuses=states.STATUSES, tag_colour=TAG_COLOURS.get, time_text=time_text,
        iso=_iso, age_text=age_text, form_token=csrf.form_token, no_secret=csrf.secret_problem(),
        done=DONE.get(done), cancellable=states.CANCELLABLE, failed=states.FAILED, **context,
    )
    return page, status


def index_page(search: Search) -> tuple[str, int]:
    """The summary (on the first page of all emails), the search form and one page of
    the list."""
    outbox = store()
    summary = None if search.filtered or search.page > 1 or search.errors else summarise(get_state(), runtime())
    rows: Sequence[Any] = []
    total = 0
    if not search.errors:
        rows, total = find_page(outbox, search, summary.total if summary else None)
    pages = max(1, -(-total // PER_PAGE))
    if not search.errors and search.page > pages:
        search.errors["page"] = f"There is no page {search.page:,}: this search has {pages:,} page(s)."
    return render(
        "index.html", 400 if search.errors else 200, summary=summary, search=search,
        rows=rows, total=total, pages=pages, first=(search.page - 1) * PER_PAGE + 1,
        last=(search.page - 1) * PER_PAGE + len(rows), errors=search.errors,
    )


def email_row(email_id: str) -> Any:
    """The row of this app's email ``email_id``, or :class:`Unavailable` (404)."""
    outbox = store()
    row = outbox.get(email_id) if len(email_id) <= 36 else None
    if row is None or row["service_id"] != outbox.service_id:
        # The id is not repeated: whatever was typed in the address bar may be personal data.
        raise Unavailable("Email not found", "No email with this id is in this app's outbox. "
                          "Find it from the list of emails.", 404)
    return row


def email_page(email_id: str, status: int = 200, action_error: str | None = None) -> tuple[str, int]:
    """One email: what it is, its timeline, what may be done with it."""
    row = email_row(email_id)
    outbox = store()
    email = QueuedEmail.from_row(row)
    timeline = outbox.events_of(email.id)
    errors = {"action": action_error} if action_error else {}
    return render("email.html", status, email=email, timeline=timeline, final_at=row["final_at"], errors=errors,
                  maybe_sent=bool(row["maybe_sent"]))


def register_pages(blueprint: Blueprint) -> None:
    """Add the pages to the ``/_dm_email/`` blueprint."""

    @blueprint.get("/")
    def index() -> tuple[str, int]:
        return index_page(read_search(request.args))

    @blueprint.post("/search")
    def search() -> Any:
        # A POST, so a typed address travels in the body and never in a URL (access logs,
        # browser history): the redirect carries its hash.
        found = read_search(_form_without_page(request.form), form=True)
        if found.errors:
            return index_page(found)
        return redirect(url_for("dm_email_ops.index", **found.query_args()), 303)

    @blueprint.get("/batches")
    def batches() -> tuple[str, int]:
        return render("batches.html", batches=recent_batches(runtime()), errors={})

    @blueprint.get("/emails/<email_id>")
    def email(email_id: str) -> tuple[str, int]:
        return email_page(email_id)

    @blueprint.errorhandler(Unavailable)
    def unavailable(error: Unavailable) -> tuple[str, int]:
        return render("problem.html", error.status, title=error.title, message=error.message)

    @blueprint.errorhandler(SQLAlchemyError)
    def database_error(error: SQLAlchemyError) -> tuple[str, int]:
        # The driver's message may quote the statement: name only the class.
        return render(
            "problem.html", 503, title="The outbox cannot be read",
            message=f"The outbox database answered {type(error).__name__}. Check DM_EMAIL_OUTBOX_URL, and that "
            "its tables exist: flask dm-email outbox create-tables (or your migrations).",
        )

    blueprint.after_request(_after)


def _form_without_page(form: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in form.items() if name != "page"}


def _after(response: Response) -> Response:
    response = csrf.set_cookie(response)
    # The pages hold nothing a shared cache should keep, and must not be framed.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
