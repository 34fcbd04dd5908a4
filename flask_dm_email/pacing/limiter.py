"""The limiter a sender holds: one Notify service's rate budget and daily count, in a
store shared with every other sender of that service."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from .. import forksafe
from ..api_keys import service_id
from .errors import LimiterWaitCancelled, LimiterWaitTooLong
from .gcra import paced_rate, parse_rate
from .store import LimitSnapshot, LimitStore


def limiter_key(api_key: str) -> str:
    """The limiter key of a Notify API key: ``notify:{service id}``. Notify's limits are
    per service (and key type), so every key of one service shares one budget. The
    service id is not a secret; the key's secret never leaves this function."""
    return f"notify:{service_id(api_key)}"


#: Added to a booking thread's sleep, so that on waking its slot is inside the horizon.
_BOOKING_MARGIN = 0.005


class LimiterSnapshot(LimitSnapshot):
    """A :class:`~flask_dm_email.pacing.store.LimitSnapshot` with the limiter's key and
    daily limit (None when unset)."""

    key: str
    daily_limit: int | None


class Limiter:
    """Paces one Notify service's requests, together with every sender using ``store``.

    :param store: where the budget lives (memory, SQL or Redis); senders share a budget
        only through one store.
    :param key: the budget's name, :func:`limiter_key` of the API key.
    :param rate: the configured limit, as ``"3000/60"`` or ``(3000, 60)``; requests go at
        :data:`~flask_dm_email.pacing.gcra.PACE` of it.
    :param burst: requests that may go at once beyond the pace after a quiet spell.
    :param daily_limit: emails a UTC day, or None for no daily count.
    :param sleep: how to wait (tests pass a fake).
    :raises ValueError: for a rate, burst or daily limit that cannot be used.
    """

    def __init__(
        self,
        store: LimitStore,
        key: str,
        rate: str | tuple[int, float],
        burst: int = 10,
        daily_limit: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        count, seconds = parse_rate(rate) if isinstance(rate, str) else rate
        if not (isinstance(count, int) and count > 0 and math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"rate {rate!r} must be a positive whole count per a positive period, e.g. '3000/60'")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
            raise ValueError(f"burst {burst!r} must be a whole number, 0 or more (e.g. 10)")
        if daily_limit is not None and (
            isinstance(daily_limit, bool) or not isinstance(daily_limit, int) or daily_limit < 1
        ):
            raise ValueError(f"daily limit {daily_limit!r} must be a whole number, 1 or more, or unset")
        self.store = store
        self.key = key
        #: The configured limit, ``(count, seconds)``.
        self.configured = (count, float(seconds))
        #: Requests per second actually sent.
        self.rate = paced_rate(count, seconds)
        self.burst = burst
        self.daily_limit = daily_limit
        self._sleep = sleep
        # One thread of this process books ahead at a time (acquire's ``horizon``).
        self._booking = forksafe.Lock()

    def acquire(self, max_wait: float, *, horizon: float | None = None,
                cancel: threading.Event | None = None) -> float:
        """Take the next slot and wait for it; return the seconds waited.

        :param max_wait: the longest this sender will wait for its slot.
        :param horizon: for senders that may wait long (an outbox worker's threads): book
            no further ahead than this, first waiting until the next free slot is that
            close, one thread of this limiter at a time. Many such senders then never
            hold the coming seconds of the budget, and a synchronous send, which waits
            at most a couple of seconds, still finds a slot. None books at once.
        :param cancel: when set while this sender waits, it stops waiting at once
            (:class:`~flask_dm_email.pacing.LimiterWaitCancelled`): a worker stopping on
            SIGTERM must not sit out the rest of a long wait.
        :raises ~flask_dm_email.pacing.LimiterWaitTooLong: if the slot is more than
            ``max_wait`` seconds away (then no slot is taken and nothing waits).
        """
        if not max_wait >= 0:
            raise ValueError(f"max_wait {max_wait!r} must be 0 or more seconds")
        waited = 0.0
        if horizon is None or horizon >= max_wait:
            wait = self.store.reserve(self.key, self.rate, self.burst, max_wait)
        else:
            waited, wait = self._book_within(max_wait, horizon, cancel)
        if wait > 0:
            self._pause(wait, cancel)
        return waited + wait

    def _pause(self, seconds: float, cancel: threading.Event | None) -> None:
        if cancel is None:
            self._sleep(seconds)
        elif cancel.wait(seconds):
            raise LimiterWaitCancelled(self.key)

    def _book_within(self, max_wait: float, horizon: float,
                     cancel: threading.Event | None = None) -> tuple[float, float]:
        """Wait until the next slot is at most ``horizon`` away, then take it: the seconds
        waited so far, and those still to wait for the slot."""
        started = time.monotonic()
        if not self._booking.acquire(timeout=max_wait):
            raise LimiterWaitTooLong(self.key, max_wait, max_wait)
        waited = time.monotonic() - started  # for the thread booking before this one
        try:
            if cancel is not None and cancel.is_set():
                raise LimiterWaitCancelled(self.key)
            while True:
                room = max_wait - waited
                if room < 0:
                    raise LimiterWaitTooLong(self.key, waited, max_wait)
                try:
                    return waited, self.store.reserve(self.key, self.rate, self.burst, min(horizon, room))
                except LimiterWaitTooLong as error:
                    if waited + error.wait > max_wait:
                        raise LimiterWaitTooLong(self.key, waited + error.wait, max_wait) from None
                    # Then the slot is within the horizon, unless others booked meanwhile.
                    step = error.wait - horizon + _BOOKING_MARGIN
                    self._pause(step, cancel)
                    waited += step
        finally:
            self._booking.release()

    def after_429(self) -> None:
        """Notify answered 429 RateLimitError: push every sender of this service back."""
        self.store.push_back(self.key, self.rate, self.burst)

    def take_daily(self) -> bool:
        """Count one email today; False if the daily limit is reached (always True when
        no daily limit is set)."""
        if self.daily_limit is None:
            return True
        return self.store.take_daily(self.key, self.daily_limit)

    def give_back_daily(self) -> None:
        """Uncount one email taken today: Notify certainly did not store it (a 429 or a
        400). Does nothing when no daily limit is set."""
        if self.daily_limit is not None:
            self.store.give_back_daily(self.key)

    def snapshot(self) -> LimiterSnapshot:
        """The budget's state now (see :class:`LimiterSnapshot`)."""
        state = self.store.snapshot(self.key)
        return LimiterSnapshot(**state, key=self.key, daily_limit=self.daily_limit)
