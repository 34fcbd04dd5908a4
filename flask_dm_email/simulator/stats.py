"""Counters of what the simulator served, for tests that check a client's behaviour."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Stats:
    """What happened since the start (or the last reset)."""

    #: 429 ``RateLimitError`` answers, forced ones (``force_429``, ``rate_limit_rate``) included.
    rate_limited: int = 0
    #: 429 ``TooManyRequestsError`` answers (the daily limit).
    daily_limited: int = 0
    #: Notifications created and stored (smoke-test sends are never stored).
    notifications: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as JSON-ready data."""
        return asdict(self)
