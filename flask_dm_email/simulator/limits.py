"""Notify's per-minute token bucket and daily email counter.

Both take an injectable clock so tests can drive them without sleeping. The
callers hold the simulator's lock; these classes do no locking of their own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], float]

#: Notify names key types this way in the rate-limit message.
KEY_TYPE_LABELS = {"normal": "LIVE", "team": "TEAM", "test": "TEST"}


class ManualClock:
    """A clock that moves only when told to: rate-limit tests advance it instead of sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds


def bucket_capacity(rate_limit: int) -> int:
    """Notify's bucket size: a third of a minute's allowance plus one, at most 1000."""
    return min(math.ceil(rate_limit / 3) + 1, 1000)


class TokenBucket:
    """A "tally bucket" like Notify's Redis script, for one service and key type.

    A fresh bucket is full. Every request (allowed or not) takes a token after
    refilling at ``rate_limit / 60`` per second; it is allowed only if at least
    one token is left afterwards. So a fresh 3000/min bucket allows 999 requests
    at once, then about 50 per second.
    """

    def __init__(self, rate_limit: int, now: float) -> None:
        self.rate_limit = rate_limit
        self.capacity = bucket_capacity(rate_limit)
        self.tokens = float(self.capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update (capped at capacity)."""
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.rate_limit / 60)

    def take(self, now: float) -> bool:
        """Spend a token; return True if the request is allowed."""
        self.refill(now)
        self.tokens = max(0.0, self.tokens - 1)
        return self.tokens >= 1


class RateLimiter:
    """Token buckets per ``(service id, key type)``.

    :meth:`set_all_tokens` sets every bucket, including those of services and key
    types not seen yet, to a number of tokens at one moment; from then on they
    refill as usual.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self.preset: tuple[int, float] | None = None

    def allow(self, service_id: str, key_type: str, rate_limit: int) -> bool:
        """Spend a token from the caller's bucket; True if allowed."""
        now = self.clock()
        key = (service_id, key_type)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate_limit != rate_limit:
            bucket = self._buckets[key] = self._new_bucket(rate_limit, now)
        return bucket.take(now)

    def _new_bucket(self, rate_limit: int, now: float) -> TokenBucket:
        bucket = TokenBucket(rate_limit, now)
        if self.preset is not None:
            # As if it had been set with the others and refilled since.
            tokens, since = self.preset
            bucket.tokens, bucket.updated = min(float(tokens), float(bucket.capacity)), since
            bucket.refill(now)
        return bucket

    def set_all_tokens(self, tokens: int) -> None:
        """Give every bucket, present and future, ``tokens`` tokens now (at most its capacity)."""
        now = self.clock()
        self.preset = (tokens, now)
        for bucket in self._buckets.values():
            bucket.tokens, bucket.updated = min(float(tokens), float(bucket.capacity)), now

    @property
    def preset_tokens(self) -> int | None:
        """The last :meth:`set_all_tokens` value, or None."""
        return None if self.preset is None else self.preset[0]

    def reset(self) -> None:
        """Forget every bucket and preset (they start full again)."""
        self._buckets.clear()
        self.preset = None


def rate_limit_message(key_type: str, rate_limit: int) -> str:
    """Notify's ``RateLimitError`` message."""
    return f"Exceeded rate limit for key type {KEY_TYPE_LABELS[key_type]} of {rate_limit} requests per 60 seconds"


def daily_limit_message(limit: int) -> str:
    """Notify's ``TooManyRequestsError`` message."""
    return f"Exceeded send limits (email: {limit}) for today"


def _utc_today() -> date:
    return datetime.now(UTC).date()


class DailyCounter:
    """Emails sent today (UTC) per service, shared by team and live keys."""

    def __init__(self, today: Callable[[], date] = _utc_today) -> None:
        self.today = today
        self._counts: dict[tuple[str, date], int] = {}

    def would_exceed(self, service_id: str, limit: int) -> bool:
        """Notify's check: one more message would go over the limit."""
        return self._counts.get((service_id, self.today()), 0) + 1 > limit

    def increment(self, service_id: str) -> None:
        """Count one persisted, non-test, non-simulated email."""
        key = (service_id, self.today())
        self._counts[key] = self._counts.get(key, 0) + 1

    def count(self, service_id: str) -> int:
        """Emails counted today for the service."""
        return self._counts.get((service_id, self.today()), 0)

    def reset(self) -> None:
        """Forget every count."""
        self._counts.clear()
