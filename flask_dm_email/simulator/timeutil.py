"""Time helpers shared by the simulator's modules."""

from __future__ import annotations

from datetime import UTC, datetime

NOTIFY_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    """Return the current UTC time as an aware datetime."""
    return datetime.now(UTC)


def format_time(value: datetime | None) -> str | None:
    """Format a datetime the way Notify's API does, or pass ``None`` through."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime(NOTIFY_DATE_FORMAT)
