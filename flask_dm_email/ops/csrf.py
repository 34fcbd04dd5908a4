"""CSRF protection for the status page's POST forms, without Flask-WTF.

A double-submit cookie: the browser holds a random value in a cookie scoped to
``/_dm_email``; each form carries that value signed with the app's ``SECRET_KEY``
(itsdangerous, which Flask ships). A POST passes only when the signed value in the form
is valid, fresh and equal to the cookie's. Another site can make a browser send the
cookie, but cannot read it or the form, and cannot sign a value of its own.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Response, current_app, g, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

COOKIE = "dm_email_csrf"
FIELD = "dm_email_csrf"
SALT = "flask-dm-email status page actions"
#: How long a page's forms stay usable (seconds).
MAX_AGE = 12 * 60 * 60

MISSING_KEY_MESSAGE = (
    "The actions on this page need the app's SECRET_KEY, which signs their CSRF tokens. "
    "Set SECRET_KEY in the app's config (for example from an environment variable: "
    "app.config['SECRET_KEY'] = os.environ['SECRET_KEY']), then reload this page."
)


class CsrfRefused(Exception):
    """A POST without a valid token; the message says what to do."""


def secret_problem() -> str | None:
    """Why no token can be signed (no ``SECRET_KEY``), or None."""
    return None if current_app.secret_key else MISSING_KEY_MESSAGE


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)  # type: ignore[arg-type]


def _browser_value() -> str:
    value = g.get("dm_email_csrf_value")
    if value is None:
        value = request.cookies.get(COOKIE) or ""
        if len(value) != 43:  # not one of ours: give this browser a fresh value
            value = secrets.token_urlsafe(32)
            g.dm_email_csrf_new = True
        g.dm_email_csrf_value = value
    return str(value)


def form_token() -> str:
    """The token for this page's forms (sets the cookie on the response if needed)."""
    return str(_serializer().dumps(_browser_value()))


def set_cookie(response: Response) -> Response:
    """``after_request``: hand the browser its value the first time a form needs it."""
    if g.get("dm_email_csrf_new"):
        response.set_cookie(
            COOKIE, g.dm_email_csrf_value, max_age=MAX_AGE, path=url_for("dm_email_ops.index"),
            secure=request.is_secure, httponly=True, samesite="Strict",
        )
    return response


def check() -> None:
    """Refuse this POST unless its form token matches the browser's cookie.

    :raises CsrfRefused: saying what was wrong and that reloading the page fixes it.
    """
    problem = secret_problem()
    if problem:
        raise CsrfRefused(problem)
    sent = request.form.get(FIELD, "")
    cookie = request.cookies.get(COOKIE, "")
    again = "Go back, reload the page and try again."
    if not sent:
        raise CsrfRefused(f"The form has no CSRF token ({FIELD}). {again}")
    if not cookie:
        raise CsrfRefused(f"Your browser sent no CSRF cookie ({COOKIE}): allow cookies for this site. {again}")
    try:
        signed = _serializer().loads(sent, max_age=MAX_AGE)
    except SignatureExpired:
        raise CsrfRefused(f"The form's CSRF token has expired (after {MAX_AGE // 3600} hours). {again}") from None
    except BadSignature:
        raise CsrfRefused(f"The form's CSRF token is not valid. {again}") from None
    if not isinstance(signed, str) or not hmac.compare_digest(signed, cookie):
        raise CsrfRefused(f"The form's CSRF token does not match your browser's cookie. {again}")
