"""Send-a-file personalisation: Notify's validation of file dicts."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .jsonio import ApiError, bad_request
from .schema import additional_properties_message, quote_free_repr

_FILE_KEYS = ("file", "is_csv", "confirm_email_before_download", "retention_period", "filename")
_RETENTION = re.compile(r"^(\d+) weeks?$")

DEFAULT_RETENTION_PERIOD = "26 weeks"


def is_file_value(value: Any) -> bool:
    """Notify treats a personalisation value as a file only if it is a dict with ``file``."""
    return isinstance(value, dict) and "file" in value


def _boolean_message(field: str, value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return f"{field} Unsupported value for {field}: {value}. Use a boolean true or false value."


def file_errors(value: dict[str, Any]) -> list[str]:
    """Every schema problem with one file dict, in Notify's words."""
    messages = []
    if not isinstance(value.get("file"), str):
        messages.append(f"file {quote_free_repr(value.get('file'))} is not of type string")
    for field in ("is_csv", "confirm_email_before_download"):
        message = _boolean_message(field, value.get(field))
        if message:
            messages.append(message)
    period = value.get("retention_period")
    if period is not None:
        match = _RETENTION.match(period) if isinstance(period, str) else None
        if match is None or not 1 <= int(match.group(1)) <= 78:
            messages.append(
                f"retention_period Unsupported value for retention_period: {period}. "
                "Supported periods are from 1 to 78 weeks."
            )
    filename = value.get("filename")
    if filename is not None:
        if not isinstance(filename, str):
            messages.append(f"filename {quote_free_repr(filename)} is not of type string")
        elif "." not in filename:
            messages.append("filename `filename` must end with a file extension. For example, filename.csv")
    if value.get("is_csv") is not None and filename is not None:
        messages.append("Do not set a value for `is_csv` if `filename` is set.")
    extras = [key for key in value if key not in _FILE_KEYS]
    if extras:
        messages.append(additional_properties_message(extras))
    return list(dict.fromkeys(messages))


def validate_file(value: dict[str, Any]) -> None:
    """Raise Notify's 400 ``ValidationError`` for a bad file dict."""
    messages = file_errors(value)
    if messages:
        raise ApiError.many(400, [("ValidationError", message) for message in messages])


def decode_file(value: dict[str, Any]) -> bytes:
    """Decode the base64 contents, answering as document-download would for bad data."""
    try:
        return base64.b64decode(value["file"], validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("Document is not base64 encoded") from None


def retention_period(value: dict[str, Any]) -> str:
    """The retention period, with Notify's default."""
    period = value.get("retention_period")
    return period if isinstance(period, str) else DEFAULT_RETENTION_PERIOD


def confirm_before_download(value: dict[str, Any]) -> bool:
    """Whether the recipient must confirm their address first (Notify's default: yes)."""
    confirm = value.get("confirm_email_before_download")
    return True if confirm is None else bool(confirm)


def no_contact_link_error(admin_base_url: str, service_id: str) -> ApiError:
    """The error Notify gives when a service without a contact link sends a file."""
    return bad_request(
        "Send files by email has not been set up - add contact details for your service at "
        f"{admin_base_url}/services/{service_id}/service-settings/send-files-by-email"
    )
