"""How hard to try a send, and how long to wait between tries: pure, no network."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

#: How long after an attempt began Notify could still accept its request, if the
#: request was held somewhere on the way (a slow proxy, a congested link). Notify refuses
#: a token whose ``iat`` is more than 30 s old by its clock, and accepts one up to 30 s
#: in the future, so a request signed by a clock up to 30 s ahead can arrive until 60 s
#: after it was made; 15 s more cover the lookup's own delay. Only after this can a
#: lookup that finds nothing prove that the email was not sent.
IN_FLIGHT_BOUND = 75.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try a send before giving up (conservative: a send usually runs in a
    web request). Backoff doubles from ``backoff`` up to ``max_backoff``, with full
    jitter; no attempt starts after ``deadline`` seconds from the first.

    ``in_flight_bound`` is :data:`IN_FLIGHT_BOUND`; only tests against a simulator,
    which holds requests for a second or two, have a reason to lower it.
    """

    max_attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 4.0
    deadline: float = 20.0
    timeout: float = 10.0
    in_flight_bound: float = IN_FLIGHT_BOUND


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff before attempt ``attempt + 1`` (``attempt`` ≥ 1)."""
    ceiling = min(policy.max_backoff, policy.backoff * (2 ** (attempt - 1)))
    return float(ceiling * rand())
