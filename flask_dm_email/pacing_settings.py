"""The pacing settings: Notify's rate limit, the burst, the daily limit, and where the
shared budget lives on each stage.

| ``DM_EMAIL_LIMITER_URL`` | meaning |
| --- | --- |
| unset, development/test, outbox on | the outbox's database (its ``dm_email_limit`` table) |
| unset, development/test, no outbox | memory: this process only |
| unset, preview/staging/production | refused: a per-process budget is not shared |
| ``outbox`` | the outbox's database, said explicitly |
| ``memory`` | this process only (a single-process app, a script) |
| ``redis://…``, ``rediss://…``, ``unix://…`` | Redis (the ``[redis]`` extra) |
| any other SQLAlchemy URL | that database's ``dm_email_limit`` table |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config_keys import DM_EMAIL_LIMITER_URL, DM_NOTIFY_RATE_BURST, DM_NOTIFY_RATE_LIMIT
from .outbox_settings import OutboxSettings, redact_url
from .stages import Stage

#: The limiter lives in the outbox's own database.
OUTBOX_STORE = "outbox"
MEMORY_STORE = "memory"
DEFAULT_RATE = (3000, 60.0)
DEFAULT_BURST = 10
#: Notify's bucket holds at most 1,000 tokens: a larger burst would be refused anyway.
MAX_BURST = 999
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_SQL_SCHEMES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class PacingSettings:
    """How fast to send, how many a day, and where the shared budget lives.

    :param rate: Notify's limit as ``(requests, seconds)``; requests go at 98 % of it.
    :param burst: requests that may go at once beyond the pace after a quiet spell.
    :param daily_limit: emails a UTC day, counted by every sender together; None: no count.
    :param store: ``outbox``, ``memory``, or a Redis or SQLAlchemy URL (may hold a password:
        show :attr:`where` instead).
    """

    rate: tuple[int, float] = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    daily_limit: int | None = None
    store: str = MEMORY_STORE

    @property
    def rate_text(self) -> str:
        count, seconds = self.rate
        return f"{count}/{seconds:g}"

    @property
    def where(self) -> str:
        """Where the budget lives, for output (no password)."""
        if self.store == OUTBOX_STORE:
            return "the outbox's database"
        if self.store == MEMORY_STORE:
            return "memory (this process only)"
        return redact_url(self.store)


def parse_rate_setting(value: Any) -> tuple[int, float]:
    """``"3000/60"``, ``(3000, 60)`` or ``[3000, 60]`` as ``(requests, seconds)``.

    :raises ValueError: with the fix (the value itself is not a secret, but is not echoed).
    """
    if isinstance(value, str):
        count_text, sep, seconds_text = value.strip().partition("/")
        if not sep:
            raise ValueError("must be REQUESTS/SECONDS, e.g. DM_NOTIFY_RATE_LIMIT=3000/60.")
        try:
            count: Any = int(count_text.strip())
            seconds: Any = float(seconds_text.strip())
        except ValueError:
            raise ValueError("must be REQUESTS/SECONDS, e.g. DM_NOTIFY_RATE_LIMIT=3000/60.") from None
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        count, seconds = value
    else:
        raise ValueError("must be REQUESTS/SECONDS, e.g. DM_NOTIFY_RATE_LIMIT=3000/60.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("needs a whole number of requests, 1 or more, e.g. DM_NOTIFY_RATE_LIMIT=3000/60.")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 86400:
        raise ValueError("needs a period of more than 0 and at most 86400 seconds, e.g. 3000/60.")
    return count, float(seconds)


def _store_for(url: str | None, stage: Stage, outbox: OutboxSettings, sends_to_notify: bool,
               problems: list[tuple[str, str]]) -> str:
    if url is None:
        if stage.is_live and sends_to_notify:
            problems.append(
                (
                    DM_EMAIL_LIMITER_URL,
                    f"is required on {stage.value}, so that every process sending for this Notify "
                    "service shares one rate budget (a budget in each process lets them together "
                    "exceed Notify's limit). Set it to 'outbox' (the outbox's database), a "
                    "redis:// URL, or a database URL; 'memory' only for a single-process app.",
                )
            )
        return OUTBOX_STORE if outbox.enabled else MEMORY_STORE
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else text.lower()
    if scheme in (OUTBOX_STORE, MEMORY_STORE):
        if scheme == OUTBOX_STORE and not outbox.enabled:
            problems.append(
                (
                    DM_EMAIL_LIMITER_URL,
                    f"is 'outbox', but there is no outbox on {stage.value}. Set DM_EMAIL_OUTBOX_URL, "
                    "or put the budget in Redis (redis://host:6379/0) or a database URL.",
                )
            )
        return scheme
    if scheme in _REDIS_SCHEMES or scheme.split("+", 1)[0] in _SQL_SCHEMES:
        return text
    problems.append(
        (
            DM_EMAIL_LIMITER_URL,
            "must be 'outbox', 'memory', a redis:// URL, or a SQLite or PostgreSQL URL such as "
            "postgresql+psycopg://user@host/db.",
        )
    )
    return MEMORY_STORE


def build_pacing_settings(
    data: Mapping[str, Any], stage: Stage, outbox: OutboxSettings, sends_to_notify: bool,
    problems: list[tuple[str, str]],
) -> PacingSettings:
    """The pacing settings from the schema's output; problems are appended."""
    rate = DEFAULT_RATE
    if data.get("rate_limit") is not None:
        try:
            rate = parse_rate_setting(data["rate_limit"])
        except ValueError as error:
            problems.append((DM_NOTIFY_RATE_LIMIT, str(error)))
    burst = data.get("rate_burst")
    burst = DEFAULT_BURST if burst is None else burst
    if burst > MAX_BURST:
        problems.append((DM_NOTIFY_RATE_BURST, f"must be at most {MAX_BURST}: Notify's bucket holds 1,000."))
    store = _store_for(data.get("limiter_url"), stage, outbox, sends_to_notify, problems)
    return PacingSettings(rate=rate, burst=burst, daily_limit=data.get("daily_limit"), store=store)
