"""Marshmallow schemas of the callbacks GOV.UK Notify posts.

Forward-compatible on purpose: unknown fields are kept, and ``status`` is any string,
because a 4xx makes Notify drop a callback for good — a field or status Notify adds
later must be logged and accepted, not refused.
"""

from __future__ import annotations

import numbers
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields

from .addresses import is_valid_email_address
from .formats import is_uuid
from .schema_fields import NonBlankString

__all__ = [
    "FAILURE_STATUSES",
    "KNOWN_STATUSES",
    "ComplaintSchema",
    "DeliveryReceiptSchema",
]



def _uuid(value: str) -> None:
    if not is_uuid(value):
        raise ValidationError("Not a valid UUID.")


#: Final statuses that mean the email did not arrive.
FAILURE_STATUSES = frozenset({"permanent-failure", "temporary-failure", "technical-failure"})
#: Every status Notify is known to send in a delivery receipt for email.
KNOWN_STATUSES = frozenset({"delivered"}) | FAILURE_STATUSES


class _StrictInteger(fields.Integer):
    """An integer, not a string of digits, a float or a boolean."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class _Address(fields.String):
    """An email address Notify would accept: anything else (60 KB of text, a surrogate)
    cannot be a receipt Notify sent, and must never reach a hook that deactivates."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_valid_email_address(text):
            raise ValidationError("Not an email address.")
        return text


class DeliveryReceiptSchema(Schema):
    """A delivery receipt (Notify API docs, "Callbacks"; NOTIFY_API.md §8.2)."""

    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=_uuid)
    reference = fields.String(allow_none=True, load_default=None)
    to = _Address(required=True)
    status = NonBlankString(required=True)
    created_at = fields.String(required=True)
    completed_at = fields.String(allow_none=True, load_default=None)
    sent_at = fields.String(allow_none=True, load_default=None)
    notification_type = fields.String(required=True)
    template_id = fields.String(required=True, validate=_uuid)
    template_version = _StrictInteger(required=True)


class ComplaintSchema(Schema):
    """A complaint: the recipient marked the email as spam (NOTIFY_API.md §8.4)."""

    class Meta:
        unknown = INCLUDE

    notification_id = fields.String(required=True, validate=_uuid)
    complaint_id = fields.String(required=True, validate=_uuid)
    reference = fields.String(allow_none=True, load_default=None)
    to = _Address(required=True)
    complaint_date = fields.String(required=True)
