"""The example's pages: sign up, password reset, accounts.

Emails are queued in the outbox in the same transaction as the data they are about
(``queue_email(..., session=db.session)``): the user row and its welcome email are
committed together or not at all, and a worker sends the email after the commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from flask_dm_email import EmailError, QueuedEmail, queue_email
from flask_dm_email.helpers import hash_string
from flask_dm_email.outbox import BatchResult, BulkInputError, states

from . import dm_email
from .forms import CSRF_FAILED, NOTICE_MAX_LENGTH, NoticeForm, PasswordResetForm, SignupForm
from .models import User, db
from .notices import batch_name_for, new_batch_name, progress, recent_notices, send_notice, send_notice_command

# cli_group=None: the blueprint's command is `flask --app example_app send-notice`.
bp = Blueprint("example", __name__, cli_group=None)
bp.cli.add_command(send_notice_command)
logger = logging.getLogger("example_app")
RESET_MAX_AGE = 3600

#: What the accounts page calls each outbox status, and the GOV.UK tag colour it gets.
STATUS_TAGS: Mapping[str, tuple[str, str]] = {
    states.QUEUED: ("queued", "grey"),
    states.SENDING: ("sending", "light-blue"),
    states.RETRYING: ("retrying", "yellow"),
    states.HELD: ("held", "orange"),
    states.SENT: ("sent to Notify", "blue"),
    states.NOTIFY_CREATED: ("accepted by Notify", "blue"),
    states.NOTIFY_SENDING: ("Notify is sending", "light-blue"),
    states.DELIVERED: ("delivered", "green"),
    states.PERMANENT_FAILURE: ("permanent failure", "red"),
    states.TEMPORARY_FAILURE: ("temporary failure", "orange"),
    states.TECHNICAL_FAILURE: ("technical failure", "red"),
    states.FAILED: ("failed to send", "red"),
    states.CANCELLED: ("cancelled", "grey"),
}
#: The accounts page refreshes itself while an email this recent is not final; an email
#: that stays unfinished longer (no receipt, say) does not keep it refreshing for ever.
REFRESH_WHILE_YOUNGER_THAN = 300


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


@bp.app_errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> tuple[str, int]:
    """A form refused by Flask-WTF's CSRF check (a stale page, say): a page that says what to do."""
    return render_template("message.html", title="Sorry, there is a problem", text=CSRF_FAILED), 400


@bp.app_context_processor
def template_globals() -> dict[str, Any]:
    """The simulator's inbox (None when talking to Notify), and the email status page
    when it is on."""
    status_page = "dm_email_ops" in current_app.blueprints
    return {"inbox_url": current_app.config.get("EXAMPLE_INBOX_URL"),
            "status_page_url": url_for("dm_email_ops.index") if status_page else None}


@bp.get("/")
def index() -> str:
    """What the example shows, with links to try it."""
    return render_template("index.html")


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    """Create an account and queue its welcome email (by template name), in one transaction.

    ``queue_email`` runs the same checks as ``send_email`` now (the template, the address,
    the stage's recipient policy), so an email that could never be sent fails here; a
    worker sends it after the commit.
    """
    form = SignupForm()
    if not form.is_submitted():
        return render_template("signup.html", form=form, errors={})
    if not form.validate():
        return render_template("signup.html", form=form, errors=form.first_errors()), 400
    # One transaction: the user, then (with the id the flush gives it) its welcome email.
    user = User(name=form.name.data, email_address=form.email.data)
    db.session.add(user)
    try:
        db.session.flush()
        personalisation = {"name": user.name, "link": url_for("example.index", _external=True)}
        queue_email(user.email_address, "welcome", personalisation, link=user, session=db.session)
    except EmailError as error:
        # No user without its email, no email without its user.
        db.session.rollback()
        logger.warning("Sign-up refused: the welcome email could not be queued (%s)", type(error).__name__)
        errors = {"email": f"We could not send a welcome email to this address: {error.message}"}
        return render_template("signup.html", form=form, errors=errors), 400
    db.session.commit()
    logger.info("Signed up user %s (%s)", user.id, hash_string(user.email_address))
    flash("Account created. We are sending you a welcome email.", "success")
    return redirect(url_for("example.accounts"))


@bp.route("/password-reset", methods=["GET", "POST"])
def password_reset() -> ResponseReturnValue:
    """Email a signed, time-limited reset link to an active account."""
    form = PasswordResetForm()
    if not form.validate_on_submit():
        return render_template("password_reset.html", form=form)
    user = User.query.filter_by(email_address=form.email.data, active=True).first()
    if user is not None:
        token = _serializer().dumps(user.id)
        link = url_for("example.reset", token=token, _external=True)
        try:
            personalisation = {"name": user.name, "reset_link": link}
            queue_email(user.email_address, "password-reset", personalisation, link=user, session=db.session)
        except EmailError as error:
            user_id = user.id
            db.session.rollback()
            logger.warning("Could not queue the password-reset email to user %s (%s)", user_id, type(error).__name__)
            flash(f"We could not send the password-reset email: {error.message}", "error")
        else:
            db.session.commit()
    # The same answer whether or not the account exists: no account enumeration.
    flash("If an active account uses that address, we are sending it a password reset link.", "success")
    return redirect(url_for("example.accounts"))


@bp.get("/reset/<token>")
def reset(token: str) -> ResponseReturnValue:
    """Where the reset link leads (choosing a password is out of the example's scope)."""
    try:
        user_id = _serializer().loads(token, max_age=RESET_MAX_AGE)
    except (SignatureExpired, BadSignature):
        return render_template("message.html", title="This link has expired or is not valid"), 400
    user = db.session.get(User, user_id)
    title = "Choose a new password" if user and user.active else "This account is not active"
    return render_template("message.html", title=title)


def _in_flight(email: QueuedEmail, now: float) -> bool:
    """Not final yet, and recent enough that its status should change soon."""
    created = email.created_at.timestamp() if email.created_at else now
    return not states.is_final(email.status) and now - created < REFRESH_WHILE_YOUNGER_THAN


@bp.get("/accounts")
def accounts() -> str:
    """Every account, its state, and its emails with their outbox status."""
    users = User.query.order_by(User.id.desc()).all()
    # Newest first; the outbox moves each row on as the worker sends it and Notify reports.
    emails = {user.id: dm_email.outbox.find(link=user, limit=20) for user in users}
    notices = recent_notices()
    now = time.time()
    refresh = any(_in_flight(email, now) for found in emails.values() for email in found)
    refresh = refresh or any(notice.in_flight for notice in notices)
    return render_template(
        "accounts.html", users=users, emails=emails, notices=notices, refresh=refresh, tags=STATUS_TAGS
    )


def _sent_message(result: BatchResult) -> str:
    """What a send did, in counts (never an address)."""
    if not result.rows:
        return f"There are no active users, so batch {result.batch} has nobody to send the notice to."
    message = f"Batch {result.batch}: the notice is queued for {result.queued} user{'s' if result.queued != 1 else ''}."
    if result.already_queued:
        message += f" {result.already_queued} already had it queued in this batch, so it was not sent to them again."
    if result.invalid:
        reasons = "; ".join(sorted({error.reason for error in result.errors}))
        message += f" {result.invalid} could not be sent it: {reasons}."
    return message


@bp.route("/notices/new", methods=["GET", "POST"])
def new_notice() -> ResponseReturnValue:
    """Send a notice to every active user, as one bulk batch, then show its progress.

    The example has no sign-in: a real service puts this page behind its admin role.
    """
    form = NoticeForm()
    if not form.is_submitted():
        form.batch.data = new_batch_name()
        return render_template("notice_form.html", form=form, errors={}, max_length=NOTICE_MAX_LENGTH)
    if not form.validate():
        return render_template(
            "notice_form.html", form=form, errors=form.first_errors(), max_length=NOTICE_MAX_LENGTH
        ), 400
    batch = form.batch.data or batch_name_for(form.notice.data)
    try:
        result = send_notice(batch, form.notice.data)
    except (BulkInputError, EmailError) as error:
        # A cancelled batch or one started with another template; no `notice` template.
        logger.warning("Notice batch %s refused (%s)", batch, type(error).__name__)
        if isinstance(error, BulkInputError):
            errors = {"batch": str(error)}
        else:
            errors = {"notice": f"The notice cannot be sent: {error.message}"}
        return render_template("notice_form.html", form=form, errors=errors, max_length=NOTICE_MAX_LENGTH), 400
    flash(_sent_message(result), "success")
    return redirect(url_for("example.notice", batch=batch))


@bp.get("/notices/<batch>")
def notice(batch: str) -> ResponseReturnValue:
    """A notice batch's progress: refreshes itself while its emails are on their way."""
    found = progress(batch)
    if found is None:  # the name is not repeated: a mistyped URL may hold anything
        text = "There is no notice batch with that name. Check the link, or send a new notice."
        return render_template("message.html", title="Page not found", text=text), 404
    return render_template("notice.html", progress=found, refresh=found.in_flight, tags=STATUS_TAGS)
