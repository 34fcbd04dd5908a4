"""Marshmallow schemas of the callbacks GOV.UK Notify posts.

Forward-compatible on purpose: unknown fields are kept, and ``status`` is any string,
because a 4xx makes Notify drop a callback for good — a field or status Notify adds
later must be logged and accepted, not refused.

Every receipt is loaded by these schemas, so how marshmallow runs matters (it was the
largest cost of a callback). Marshmallow stays the one validator; two things it does
per field and per load that decide nothing for flat schemas like these are skipped:
building an empty ``And()`` of validators for a field that has none
(:class:`_Checked`), and the nested/partial/``many`` machinery of the loop over the
fields (:class:`_FlatSchema`). ``tests/callbacks/test_receipt_schemas.py`` checks, on
generated bodies, that the results and error messages are marshmallow's own.
"""

from __future__ import annotations

import numbers
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, missing
from marshmallow.error_store import ErrorStore
from marshmallow.types import UnknownOption

from .addresses import is_valid_email_address
from .formats import is_uuid
from .schema_fields import NonBlankString

__all__ = [
    "FAILURE_STATUSES",
    "KNOWN_STATUSES",
    "ComplaintSchema",
    "DeliveryReceiptSchema",
]



#: Final statuses that mean the email did not arrive.
FAILURE_STATUSES = frozenset({"permanent-failure", "temporary-failure", "technical-failure"})
#: Every status Notify is known to send in a delivery receipt for email.
KNOWN_STATUSES = frozenset({"delivered"}) | FAILURE_STATUSES


class _Checked(fields.Field[Any]):
    """A field that runs its validators only when it has some: marshmallow builds an
    ``And()`` of them for every value it loads, even of none."""

    def _validate(self, value: Any) -> None:
        if self.validators:
            super()._validate(value)


class _String(_Checked, fields.String):
    """:class:`marshmallow.fields.String`, validated only by its own validators."""


class _FlatSchema(Schema):
    """A schema whose fields load from keys of the same name, with nothing nested.

    Each field is loaded by its own :meth:`~marshmallow.fields.Field.deserialize`, as
    marshmallow does, and its errors land where marshmallow puts them; only the general
    loop (``data_key``, ``attribute``, ``partial``, ``many``, nested results) is left
    out, and marshmallow's own runs whenever one of those is asked for.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, field in self.load_fields.items():
            if field.data_key not in (None, name) or field.attribute not in (None, name):
                raise TypeError(f"{type(self).__name__}.{name}: a flat schema's fields load from their own key")

    def _deserialize(
        self,
        data: Any,
        *,
        error_store: ErrorStore,
        many: bool = False,
        partial: Any = None,
        unknown: UnknownOption = INCLUDE,
        index: int | None = None,
    ) -> Any:
        if many or partial or index is not None or type(data) is not dict or unknown != INCLUDE:
            return super()._deserialize(
                data, error_store=error_store, many=many, partial=partial, unknown=unknown, index=index
            )
        result: dict[str, Any] = {}
        load_fields = self.load_fields
        for name, field in load_fields.items():
            try:
                value = field.deserialize(data.get(name, missing), name, data)
            except ValidationError as error:
                error_store.store_error(error.messages, name)  # type: ignore[no-untyped-call]
                continue
            if value is not missing:
                result[name] = value
        for key in data.keys() - load_fields.keys():  # INCLUDE: kept as they came
            result[key] = data[key]
        return result


class _StrictInteger(_Checked, fields.Integer):
    """An integer, not a string of digits, a float or a boolean."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class _Uuid(_String):
    """A UUID in Notify's form (checked here rather than by a validator, which
    marshmallow would wrap in a new ``And()`` for every value)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_uuid(text):
            raise ValidationError("Not a valid UUID.")
        return text


class _NonBlank(_Checked, NonBlankString):
    """:class:`~flask_dm_email.schema_fields.NonBlankString`, validated only by its own
    validators."""


class _Address(_String):
    """An email address Notify would accept: anything else (60 KB of text, a surrogate)
    cannot be a receipt Notify sent, and must never reach a hook that deactivates."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_valid_email_address(text):
            raise ValidationError("Not an email address.")
        return text


class DeliveryReceiptSchema(_FlatSchema):
    """A delivery receipt (Notify API docs, "Callbacks"; NOTIFY_API.md §8.2)."""

    class Meta:
        unknown = INCLUDE

    id = _Uuid(required=True)
    reference = _String(allow_none=True, load_default=None)
    to = _Address(required=True)
    status = _NonBlank(required=True)
    created_at = _String(required=True)
    completed_at = _String(allow_none=True, load_default=None)
    sent_at = _String(allow_none=True, load_default=None)
    notification_type = _String(required=True)
    template_id = _Uuid(required=True)
    template_version = _StrictInteger(required=True)


class ComplaintSchema(_FlatSchema):
    """A complaint: the recipient marked the email as spam (NOTIFY_API.md §8.4)."""

    class Meta:
        unknown = INCLUDE

    notification_id = _Uuid(required=True)
    complaint_id = _Uuid(required=True)
    reference = _String(allow_none=True, load_default=None)
    to = _Address(required=True)
    complaint_date = _String(required=True)
