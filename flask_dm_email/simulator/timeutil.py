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


def human_time(iso: str | None) -> str:
    """A Notify-format time for people, e.g. ``9:05:03am on 23 November 2026``; ``""`` for None."""
    if iso is None:
        return ""
    when = datetime.strptime(iso, NOTIFY_DATE_FORMAT)
    hour = when.hour % 12 or 12
    return f"{hour}:{when:%M:%S}{'am' if when.hour < 12 else 'pm'} on {when.day} {when:%B %Y}"
