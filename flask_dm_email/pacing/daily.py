"""The daily count, as pure functions: how many emails we have sent today (UTC).

Notify's daily counter is keyed by the UTC date, so it starts again at 00:00 UTC; ours
does the same. A stored count for another day counts as zero.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_day(now: float) -> str:
    """The UTC date of ``now`` (seconds since the epoch), as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def used(day: str, count: int, today: str) -> int:
    """Today's count, given the stored ``day`` and ``count``."""
    return count if day == today else 0


def count_one(day: str, count: int, today: str, limit: int) -> tuple[bool, int]:
    """``(allowed, today's new count)``: one more email, unless ``limit`` is reached."""
    current = used(day, count, today)
    if current >= limit:
        return False, current
    return True, current + 1


def uncount_one(day: str, count: int, today: str) -> int:
    """Today's count after giving one back (an email Notify certainly did not store).

    The store does not know which day a give-back belongs to: one taken just before
    00:00 UTC and given back just after lowers the new day's count by one.
    """
    return max(0, used(day, count, today) - 1)
