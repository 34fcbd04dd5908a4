"""The example's pages: sign up, password reset, accounts."""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from flask_dm_email import EmailError, send_email
from flask_dm_email.helpers import hash_string
from flask_dm_email.recipients import is_valid_email_address

from .csrf import check_csrf, csrf_token
from .models import SentEmailRecord, User, db

bp = Blueprint("example", __name__)
logger = logging.getLogger("example_app")
RESET_MAX_AGE = 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


bp.before_request(check_csrf)


@bp.errorhandler(400)
def bad_request(error: HTTPException) -> tuple[str, int]:
    """A refused form (a stale CSRF token): a page that says what to do."""
    return render_template("message.html", title="Sorry, there is a problem", text=error.description), 400


@bp.app_context_processor
def template_globals() -> dict[str, Any]:
    """The simulator's inbox (None when talking to Notify) and the forms' CSRF token."""
    return {"inbox_url": current_app.config.get("EXAMPLE_INBOX_URL"), "csrf_token": csrf_token}


def _send(user: User, template: str, personalisation: dict[str, str]) -> bool:
    """Send and record an email; on failure say so to the user and keep the account."""
    try:
        result = send_email(user.email_address, template, personalisation)
    except EmailError as error:
        logger.warning("Could not send %s email to user %s: %s", template, user.id, type(error).__name__)
        flash(f"We could not send the {template} email: {error.message}", "error")
        return False
    db.session.add(
        SentEmailRecord(notification_id=result.id, user_id=user.id, template=template, redirected=result.redirected)
    )
    db.session.commit()
    return True


@bp.get("/")
def index() -> str:
    """What the example shows, with links to try it."""
    return render_template("index.html")


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    """Create an account and send the welcome email (by template name)."""
    if request.method == "GET":
        return render_template("signup.html", errors={}, form={})
    # Addresses are stored lowercased: one account per address, and indexed look-ups.
    form = {"name": request.form.get("name", "").strip(), "email": request.form.get("email", "").strip().lower()}
    errors = {}
    if not form["name"]:
        errors["name"] = "Enter your name"
    if not is_valid_email_address(form["email"]):  # Notify's own rules: fail here, not at send
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    elif User.query.filter_by(email_address=form["email"]).first():
        errors["email"] = "An account with this email address already exists"
    if errors:
        return render_template("signup.html", errors=errors, form=form), 400
    user = User(name=form["name"], email_address=form["email"])
    db.session.add(user)
    db.session.commit()
    logger.info("Signed up user %s (%s)", user.id, hash_string(user.email_address))
    link = url_for("example.index", _external=True)
    if _send(user, "welcome", {"name": user.name, "link": link}):
        flash("Account created. We sent you a welcome email.", "success")
    return redirect(url_for("example.accounts"))


@bp.route("/password-reset", methods=["GET", "POST"])
def password_reset() -> ResponseReturnValue:
    """Email a signed, time-limited reset link to an active account."""
    if request.method == "GET":
        return render_template("password_reset.html")
    email = request.form.get("email", "").strip()
    user = User.query.filter_by(email_address=email.lower(), active=True).first()
    if user is not None:
        token = _serializer().dumps(user.id)
        _send(
            user,
            "password-reset",
            {"name": user.name, "reset_link": url_for("example.reset", token=token, _external=True)},
        )
    # The same answer whether or not the account exists: no account enumeration.
    flash("If an active account uses that address, we sent it a password reset link.", "success")
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


@bp.get("/accounts")
def accounts() -> str:
    """Every account, its state, and the last delivery status Notify reported."""
    users = User.query.order_by(User.id.desc()).all()
    return render_template("accounts.html", users=users)
