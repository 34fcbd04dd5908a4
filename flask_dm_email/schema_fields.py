"""Marshmallow fields shared by the settings schema and the callback schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields


class NonBlankString(fields.String):
    """A string that is not blank once stripped; loaded stripped.

    :param blank_error: the message when it is blank (the settings schema words it for a
        config key, the callback schemas for a field).
    """

    def __init__(self, *, blank_error: str = "Must not be empty.", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blank_error = blank_error

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            raise ValidationError(self.blank_error)
        return text.strip()
