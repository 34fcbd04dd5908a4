"""Just enough CSRF protection for the example's forms, with no extra dependency.

A random token lives in the (signed) session cookie and in a hidden field of every form;
a POST whose field does not match is refused. Flask-WTF does the same with more options —
use it in a real service. The callback blueprint is not covered: Notify authenticates
with its bearer token, not a cookie.
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

FIELD = "csrf_token"
SESSION_KEY = "csrf_token"


def csrf_token() -> str:
    """The session's token, created on first use (templates call it as ``csrf_token()``)."""
    if SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(32)
    return str(session[SESSION_KEY])


def check_csrf() -> None:
    """Refuse (400) a POST without the session's token; a ``before_request`` hook."""
    if request.method != "POST":
        return
    expected = session.get(SESSION_KEY)
    given = request.form.get(FIELD, "")
    if not expected or not hmac.compare_digest(str(expected), given):
        abort(400, description="Your session has expired or the form is out of date. Go back, reload it and try again.")
