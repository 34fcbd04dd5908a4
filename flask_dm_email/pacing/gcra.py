"""The pacing decision, as pure functions: GCRA over one stored number per key.

GCRA (the generic cell rate algorithm) keeps a *theoretical arrival time* (``tat``): when
the next request would go if every earlier one had been sent exactly on the pace.
With an emission interval ``T = 1 / rate`` and a tolerance of ``burst × T``, a request
arriving at ``now`` may go at ``max(now, tat - burst × T)``, and ``tat`` becomes
``max(tat, now) + T``. Each caller therefore gets its own slot, in arrival order: the
wait is a reservation, not a poll, so nobody is starved and nobody polls the store.

No I/O here, and no clock of its own: every store passes its own ``now`` (the
database's, Redis's, or this process's), so these functions are the one definition of
the arithmetic (the Redis store's Lua scripts mirror it; the tests hold them together).
Arguments are trusted: :class:`~flask_dm_email.pacing.limiter.Limiter` validates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The share of the configured rate that is actually used. Notify refills its bucket at
#: exactly the configured rate; pacing 2 % under it means the bucket gains a token every
#: 50 requests, so clock drift between us and Notify never adds up to a refusal.
PACE = 0.98

#: Slots a drained Notify bucket needs before it accepts one request: Notify refuses a
#: request that would leave it with less than one token, so it must hold two.
EMPTY_BUCKET_SLOTS = 2

_RATE = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+(?:\.[0-9]+)?)\s*$")


def parse_rate(text: str) -> tuple[int, float]:
    """``"3000/60"`` → ``(3000, 60.0)``: a number of requests per a number of seconds.

    :raises ValueError: with a message that says what is wrong and shows a valid value.
    """
    if not isinstance(text, str):
        raise ValueError(f"a rate must be text such as '3000/60' (requests/seconds), not {type(text).__name__}")
    match = _RATE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a rate: write REQUESTS/SECONDS with whole requests, e.g. '3000/60' "
            "(GOV.UK Notify's limit per API key)"
        )
    count, seconds = int(match.group(1)), float(match.group(2))
    if count <= 0:
        raise ValueError(f"{text!r} allows no requests: the count before '/' must be at least 1, e.g. '3000/60'")
    if seconds <= 0:
        raise ValueError(f"{text!r} has a period of zero seconds: the number after '/' must be above 0, e.g. '3000/60'")
    return count, seconds


def paced_rate(count: int, seconds: float) -> float:
    """The requests per second actually sent for a configured ``count`` per ``seconds``
    (:data:`PACE` of it)."""
    return count / seconds * PACE


@dataclass(frozen=True)
class Decision:
    """The outcome of one reservation.

    :param admitted: whether the request has a slot.
    :param wait: seconds from ``now`` until the slot (when refused: the wait it would
        have needed).
    :param tat: the theoretical arrival time to store. A refusal leaves it as it was (a
        new key's starting value included, so the next caller finds the key started).
    """

    admitted: bool
    wait: float
    tat: float


def fresh_tat(now: float, rate: float, burst: int) -> float:
    """The state of a key nobody has used: as if the burst had just been spent and
    Notify's bucket were empty, so the first request waits :data:`EMPTY_BUCKET_SLOTS`
    intervals. Another sender may have drained the bucket a moment ago; a limiter that
    started with burst credit would meet that with a run of 429s."""
    return now + (burst + EMPTY_BUCKET_SLOTS) / rate


def reserve(tat: float | None, now: float, rate: float, burst: int, max_wait: float) -> Decision:
    """Reserve the next slot for a request arriving at ``now``.

    :param tat: the stored theoretical arrival time, or None for a new key.
    :param rate: requests per second (already paced, see :func:`paced_rate`).
    :param burst: requests that may go at once beyond the steady pace, once credit has
        built up by going slower than the pace.
    :param max_wait: the longest the caller will wait; a longer wait is refused, and a
        refusal takes no slot.
    """
    if tat is None:
        tat = fresh_tat(now, rate, burst)
    interval = 1.0 / rate
    wait = max(0.0, tat - burst * interval - now)
    if wait > max_wait:
        return Decision(admitted=False, wait=wait, tat=tat)
    return Decision(admitted=True, wait=wait, tat=max(tat, now) + interval)


def push_back(tat: float | None, now: float, rate: float, burst: int) -> float:
    """The new ``tat`` after Notify answered 429 (RateLimitError).

    Notify's bucket is then empty (a refused request takes a token too), so every sender
    loses its burst credit and the next request waits :data:`EMPTY_BUCKET_SLOTS`
    intervals, exactly as for a new key.
    """
    return max(now if tat is None else tat, now) + (burst + EMPTY_BUCKET_SLOTS) / rate


def state_at(tat: float, now: float, rate: float, burst: int) -> tuple[float, float]:
    """``(tokens, wait)`` at ``now``: how many requests could go at once without waiting
    (0 to ``burst + 1``), and how long the next one would wait."""
    interval = 1.0 / rate
    ahead = max(tat, now) - now
    tokens = max(0.0, burst + 1 - ahead / interval)
    wait = max(0.0, tat - burst * interval - now)
    return tokens, wait
