"""GOV.UK Notify's per-minute rate limit, modelled from its code (NOTIFY_API.md §4.1),
independently of the limiter under test: the judge of whether a pacing is safe."""

from __future__ import annotations

import math


class NotifyBucket:
    """Notify's "tally bucket" for one service and key type.

    Capacity ``min(ceil(rate_limit / 3) + 1, 1000)``, refilled at ``rate_limit / 60``
    tokens a second. Every request, allowed or not, takes a token after the refill
    (never below 0); it is refused when less than one token is left afterwards.
    """

    def __init__(self, rate_limit: int, tokens: float, now: float) -> None:
        self.rate_limit = rate_limit
        self.capacity = min(math.ceil(rate_limit / 3) + 1, 1000)
        self.tokens = tokens
        self.updated = now
        self.refused = 0

    def request(self, at: float) -> bool:
        """One request at ``at`` (not earlier than the last); True if Notify accepts it."""
        assert at >= self.updated, "requests reach Notify in time order"
        self.tokens = min(self.capacity, self.tokens + (at - self.updated) * self.rate_limit / 60)
        self.updated = at
        self.tokens = max(0.0, self.tokens - 1)
        allowed = self.tokens >= 1
        self.refused += not allowed
        return allowed

