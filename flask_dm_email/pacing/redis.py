"""A limiter store in Redis: shared by every process and machine that uses the Redis,
for apps with no database of their own. Each operation is one Lua script (atomic in
Redis) that reads Redis's clock (``TIME``), never a machine's.

The ``redis`` package is an optional extra (``pip install flask-dm-email[redis]``), so
it is imported only when a store is made from a URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .daily import utc_day
from .errors import LimiterWaitTooLong
from .gcra import EMPTY_BUCKET_SLOTS
from .redis_scripts import GIVE_BACK_DAILY, PUSH_BACK, RESERVE, SNAPSHOT, TAKE_DAILY
from .store import LimitSnapshot, RateConflicts, make_snapshot

if TYPE_CHECKING:
    from redis import Redis

#: Keys live under this prefix unless told otherwise.
DEFAULT_PREFIX = "dm_email:limit:"
# How long a key outlives its last write: two days, so a count lasts its whole UTC day.
_KEEP = 2 * 86_400


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore:
    """A store in Redis.

    :param client: a ``redis.Redis`` client (its connection pool is thread-safe).
    :param prefix: put before every key, so several apps or tests can share one Redis.
    """

    def __init__(self, client: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._conflicts = RateConflicts()
        # Script objects send EVALSHA, and the script itself once after a Redis restart.
        self._reserve = client.register_script(RESERVE)
        self._push_back = client.register_script(PUSH_BACK)
        self._take_daily = client.register_script(TAKE_DAILY)
        self._give_back_daily = client.register_script(GIVE_BACK_DAILY)
        self._snapshot = client.register_script(SNAPSHOT)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX) -> RedisStore:
        """A store on the Redis at ``url`` (``redis://``, ``rediss://`` or ``unix://``)."""
        try:
            import redis
        except ImportError as error:
            raise ImportError(
                "A Redis limiter store needs the 'redis' package: pip install 'flask-dm-email[redis]'"
            ) from error
        return cls(redis.Redis.from_url(url), prefix)

    def reserve(self, key: str, rate: float, burst: int, max_wait: float) -> float:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.reserve`."""
        args: list[str | int] = [repr(rate), burst, repr(max_wait), EMPTY_BUCKET_SLOTS, _KEEP]
        admitted, wait, stored_rate, stored_burst = self._reserve(keys=[self.prefix + key], args=args)
        if _text(stored_rate):
            self._conflicts.check(key, float(_text(stored_rate)), int(_text(stored_burst)), rate, burst)
        if not admitted:
            raise LimiterWaitTooLong(key, float(_text(wait)), max_wait)
        return float(_text(wait))

    def push_back(self, key: str, rate: float, burst: int) -> None:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.push_back`."""
        self._push_back(keys=[self.prefix + key], args=[repr(rate), burst, EMPTY_BUCKET_SLOTS, _KEEP])

    def take_daily(self, key: str, limit: int) -> bool:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.take_daily`."""
        return bool(self._take_daily(keys=[self.prefix + key], args=[limit, _KEEP]))

    def give_back_daily(self, key: str) -> None:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.give_back_daily`."""
        self._give_back_daily(keys=[self.prefix + key], args=[_KEEP])

    def snapshot(self, key: str) -> LimitSnapshot:
        """See :meth:`~flask_dm_email.pacing.store.LimitStore.snapshot`."""
        values = [_text(v) for v in self._snapshot(keys=[self.prefix + key], args=[_KEEP])]
        seconds, micros, tat, rate, burst, day, count = values
        now = int(seconds) + int(micros) / 1_000_000
        # Redis stores the day as a day number; the snapshot shows it as a date.
        stored_day = utc_day(int(day) * 86_400) if day else ""
        return make_snapshot(
            now,
            utc_day(now),
            float(tat) if tat and rate else None,
            float(rate) if rate else None,
            int(burst) if burst else None,
            stored_day,
            int(count) if count else 0,
        )
