"""The status page's actions, each a POST form with a CSRF token: retry or cancel one
email, pause or resume the whole outbox, release the emails held over the daily limit.
Each goes through ``dm_email.outbox`` exactly as code would, so the same rules (and the
same signals and events) apply. A refusal comes back as the page with a GOV.UK error
summary, never a 500."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for

from ..errors import OutboxStateError
from ..outbox import Outbox
from . import csrf
from .pages import email_page, email_row, render, store

#: What the pause event records as the reason.
PAUSE_REASON = "paused from the status page"


def _refused(error: csrf.CsrfRefused) -> tuple[str, int]:
    return render("problem.html", 400, title="This action was refused", message=str(error))


def register_actions(blueprint: Blueprint) -> None:
    """Add the POST actions to the ``/_dm_email/`` blueprint."""

    @blueprint.post("/emails/<email_id>/retry")
    def retry(email_id: str) -> Any:
        return _on_email(email_id, "retry", "retried")

    @blueprint.post("/emails/<email_id>/cancel")
    def cancel(email_id: str) -> Any:
        return _on_email(email_id, "cancel", "cancelled")

    @blueprint.post("/release-held")
    def release_held() -> Any:
        csrf.check()
        store()
        released = Outbox().release_held()
        return redirect(url_for("dm_email_ops.index", done="released" if released else "none-held"), 303)

    @blueprint.post("/pause")
    def pause() -> Any:
        csrf.check()
        store()  # no outbox: say so
        Outbox().pause(PAUSE_REASON)
        return redirect(url_for("dm_email_ops.index", done="paused"), 303)

    @blueprint.post("/resume")
    def resume() -> Any:
        csrf.check()
        store()
        Outbox().resume()
        return redirect(url_for("dm_email_ops.index", done="resumed"), 303)

    blueprint.register_error_handler(csrf.CsrfRefused, _refused)


def _on_email(email_id: str, action: str, done: str) -> Any:
    csrf.check()
    email_row(email_id)  # not this app's email: the page that says so
    try:
        result = getattr(Outbox(), action)(email_id)
    except OutboxStateError as error:
        return email_page(email_id, 409, action_error=str(error))
    if getattr(result, "may_have_reached_notify", False):
        done = "cancelled-maybe-sent"
    return redirect(url_for("dm_email_ops.email", email_id=email_id, done=done), 303)

