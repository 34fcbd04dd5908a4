"""What every limiter store provides, and the parts they share.

A store keeps, per limiter key, GCRA's theoretical arrival time with the rate and burst
that wrote it, and today's count of sent emails. Each operation is atomic across every
process that uses the same store, and uses the store's own clock.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol, TypedDict

from .. import forksafe
from .daily import used
from .gcra import state_at

logger = logging.getLogger("flask_dm_email.pacing")


class LimitSnapshot(TypedDict):
    """One key's state now, for status pages and metrics.

    ``rate`` (requests per second, paced), ``burst``, ``tokens`` (requests that could go
    at once) and ``wait`` (seconds the next request would wait) are None until a sender
    has reserved with the key. ``day`` is the store's current UTC date and
    ``daily_used`` the emails counted on it.
    """

    rate: float | None
    burst: int | None
    tokens: float | None
    wait: float | None
    day: str
    daily_used: int


class LimitStore(Protocol):
    """The interface of the ``memory``, ``sql`` and ``redis`` stores."""

    def reserve(self, key: str, rate: float, burst: int, max_wait: float) -> float:
        """Reserve the next slot; return the seconds to wait for it.

        :raises ~flask_dm_email.pacing.LimiterWaitTooLong: if that is over ``max_wait``
            (no slot is taken).
        """
        ...

    def push_back(self, key: str, rate: float, burst: int) -> None:
        """Notify answered 429: every sender loses its burst credit and waits (see
        :func:`~flask_dm_email.pacing.gcra.push_back`)."""
        ...

    def take_daily(self, key: str, limit: int) -> bool:
        """Count one email today, unless ``limit`` is reached (then return False).
        Atomic: senders together never count more than ``limit`` in one UTC day."""
        ...

    def give_back_daily(self, key: str) -> None:
        """Uncount one email today (Notify certainly did not store it)."""
        ...

    def snapshot(self, key: str) -> LimitSnapshot:
        """The key's state now; changes nothing."""
        ...


def make_snapshot(
    now: float, today: str, tat: float | None, rate: float | None, burst: int | None, day: str, count: int
) -> LimitSnapshot:
    """A :class:`LimitSnapshot` from a key's stored values, at the store's ``now`` and
    UTC date ``today``. ``tat``, ``rate`` and ``burst`` are None (or a rate of 0) when
    nobody has reserved with the key."""
    tokens: float | None = None
    wait: float | None = None
    if tat is not None and rate and burst is not None:
        tokens, wait = state_at(tat, now, rate, burst)
    else:
        rate = burst = None
    return LimitSnapshot(
        rate=rate, burst=burst, tokens=tokens, wait=wait, day=today, daily_used=used(day, count, today)
    )


class RateConflicts:
    """Warns when a key was last written with another rate or burst than this sender's:
    two apps (or two deployments) sending for one Notify service with different
    settings. Once per process for each pair of settings, not once per email."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, float, int, float, int]] = set()
        self._lock = forksafe.Lock()

    def check(self, key: str, stored_rate: float, stored_burst: int, rate: float, burst: int) -> None:
        """Log a warning if the stored settings differ from ``rate`` and ``burst``.
        A ``stored_rate`` of 0 means no rate was stored yet. (Rates are compared up to
        rounding: one stored as text or in a float column may differ in the last place.)"""
        if not stored_rate or (math.isclose(stored_rate, rate, rel_tol=1e-9) and stored_burst == burst):
            return
        seen = (key, stored_rate, stored_burst, rate, burst)
        with self._lock:
            if seen in self._seen:
                return
            self._seen.add(seen)
        logger.warning(
            "Limiter key %s was last paced at %.6g requests/s with burst %d by a sender configured "
            "differently; this one uses %.6g/s with burst %d. Every app that sends with one Notify "
            "service must use the same DM_NOTIFY_RATE_LIMIT and DM_NOTIFY_RATE_BURST, or the faster "
            "one takes more than its share.",
            key, stored_rate, stored_burst, rate, burst,
        )
