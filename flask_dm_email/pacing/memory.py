"""A limiter store in this process's memory: for one process (development, tests, a
script). Processes do not share it, so two gunicorn workers with a memory store each
send at the full rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import forksafe
from .daily import count_one, uncount_one, utc_day
from .errors import LimiterWaitTooLong
from .gcra import push_back as pushed_back_tat
from .gcra import reserve as reserve_slot
from .store import LimitSnapshot, RateConflicts, make_snapshot


@dataclass
class _Entry:
    tat: float | None = None
    rate: float = 0.0
    burst: int = 0
    day: str = ""
    count: int = 0


class MemoryStore:
    """A thread-safe store in memory.

    :param clock: seconds for pacing; monotonic, so a change to the machine's clock
        cannot stall or unleash senders.
    :param wall_clock: seconds since the epoch, for the UTC day of the daily count.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: dict[str, _Entry] = {}
        self._lock = forksafe.Lock()
        self._conflicts = RateConflicts()

    def _entry(self, key: str) -> _Entry:
        return self._entries.setdefault(key, _Entry())

    def reserve(self, key: str, rate: float, burst: int, max_wait: float) -> float:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.reserve`."""
        with self._lock:
            entry = self._entry(key)
            self._conflicts.check(key, entry.rate, entry.burst, rate, burst)
            decision = reserve_slot(entry.tat, self._clock(), rate, burst, max_wait)
            entry.tat, entry.rate, entry.burst = decision.tat, rate, burst
        if not decision.admitted:
            raise LimiterWaitTooLong(key, decision.wait, max_wait)
        return decision.wait

    def push_back(self, key: str, rate: float, burst: int) -> None:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.push_back`."""
        with self._lock:
            entry = self._entry(key)
            entry.tat = pushed_back_tat(entry.tat, self._clock(), rate, burst)
            entry.rate, entry.burst = rate, burst

    def take_daily(self, key: str, limit: int) -> bool:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.take_daily`."""
        with self._lock:
            entry = self._entry(key)
            today = utc_day(self._wall_clock())
            allowed, entry.count = count_one(entry.day, entry.count, today, limit)
            entry.day = today
        return allowed

    def give_back_daily(self, key: str) -> None:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.give_back_daily`."""
        with self._lock:
            entry = self._entry(key)
            today = utc_day(self._wall_clock())
            entry.count, entry.day = uncount_one(entry.day, entry.count, today), today

    def snapshot(self, key: str) -> LimitSnapshot:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.snapshot`."""
        with self._lock:
            entry = self._entries.get(key) or _Entry()
            today = utc_day(self._wall_clock())
            return make_snapshot(self._clock(), today, entry.tat, entry.rate, entry.burst, entry.day, entry.count)
