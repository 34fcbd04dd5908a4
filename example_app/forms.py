"""The example's forms, with Flask-WTF: each form carries its CSRF token and validates
its fields; the views only decide what happens next."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, StopValidation, ValidationError

from flask_dm_email.outbox import BulkInputError
from flask_dm_email.outbox.bulk import check_batch_name
from flask_dm_email.recipients import is_valid_email_address

from .models import User

#: The text shown when a form comes back without its CSRF token (a stale page, say).
CSRF_FAILED = "Your session has expired or the form is out of date. Go back, reload it and try again."


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalise_address(value: Any) -> Any:
    # Addresses are stored lowercased: one account per address, and indexed look-ups.
    return value.strip().lower() if isinstance(value, str) else value


def notify_address(form: FlaskForm, field: EmailField) -> None:
    """GOV.UK Notify's own address rules: an address Notify would refuse fails here, not at send."""
    if not is_valid_email_address(field.data or ""):
        raise StopValidation("Enter an email address in the correct format, like name@example.com")


class Form(FlaskForm):  # type: ignore[misc]  # Flask-WTF is untyped
    """A form whose errors the page lists GOV.UK-style: a summary, and each by its field."""

    def first_errors(self) -> dict[str, str]:
        """Each field's first error, for the error summary and the messages next to the fields."""
        return {name: messages[0] for name, messages in self.errors.items() if messages and name != "csrf_token"}


class SignupForm(Form):
    """A name and an address that has no account yet."""

    name = StringField("Name", filters=[_strip], validators=[DataRequired("Enter your name")])
    email = EmailField("Email address", filters=[_normalise_address], validators=[notify_address])

    def validate_email(self, field: EmailField) -> None:
        """One account per address (checked after Notify's rules, so only for a valid address)."""
        if User.query.filter_by(email_address=field.data).first():
            raise ValidationError("An account with this email address already exists")


class PasswordResetForm(FlaskForm):  # type: ignore[misc]
    """An address; the page answers the same whether or not it has an account."""

    email = EmailField("Email address", filters=[_normalise_address])


#: The longest notice the form takes (Notify allows much more; an email is not a letter).
NOTICE_MAX_LENGTH = 2000


def batch_name(form: FlaskForm, field: StringField) -> None:
    """Empty (a name is made up), or a name the outbox takes for a batch."""
    if not field.data:
        return
    try:
        check_batch_name(field.data)
    except BulkInputError:
        raise StopValidation(
            "Batch name must start with a letter or number and use only letters, numbers, full stops (.), "
            "underscores (_), colons (:) and hyphens (-), up to 200 characters"
        ) from None


class NoticeForm(Form):
    """A notice to every active user, and the name of its batch."""

    notice = TextAreaField(
        "Notice",
        filters=[_strip],
        validators=[
            DataRequired("Enter the notice"),
            Length(max=NOTICE_MAX_LENGTH, message=f"Notice must be {NOTICE_MAX_LENGTH:,} characters or fewer"),
        ],
    )
    batch = StringField("Batch name (optional)", filters=[_strip], validators=[batch_name])


#: The name of the hidden field that carries a form's CSRF token (Flask-WTF's default).
CSRF_FIELD = "csrf_token"
_CSRF_INPUT = re.compile(rf'<input[^>]*\bname="{CSRF_FIELD}"[^>]*\bvalue="([^"]+)"')


def find_csrf_token(page: str) -> str | None:
    """The CSRF token in a page's form, as a browser would post it back (the demo and tests)."""
    match = _CSRF_INPUT.search(page)
    return match.group(1) if match else None
