"""Pacing: one rate budget (and one daily count) per Notify service, shared by every
process and machine that sends with its keys.

Notify refuses requests beyond a token bucket per service (3,000 a minute by default)
and beyond a daily limit. A throttle in each process fails as soon as a team runs two
gunicorn workers and a worker, so the budget lives in a store they share: the outbox's
SQL database (:mod:`~flask_dm_email.pacing.sql`), Redis
(:mod:`~flask_dm_email.pacing.redis`), or, for one process, memory.

:mod:`~flask_dm_email.pacing.gcra` and :mod:`~flask_dm_email.pacing.daily` hold the
decisions as pure functions; the stores only make them atomic, with their own clock.
"""

from __future__ import annotations

from .errors import LimiterWaitCancelled, LimiterWaitTooLong
from .factory import open_store
from .gcra import PACE, paced_rate, parse_rate
from .limiter import Limiter, LimiterSnapshot, limiter_key
from .memory import MemoryStore
from .store import LimitSnapshot, LimitStore

__all__ = [
    "PACE",
    "LimitSnapshot",
    "LimitStore",
    "Limiter",
    "LimiterSnapshot",
    "LimiterWaitCancelled",
    "LimiterWaitTooLong",
    "MemoryStore",
    "limiter_key",
    "open_store",
    "paced_rate",
    "parse_rate",
]
