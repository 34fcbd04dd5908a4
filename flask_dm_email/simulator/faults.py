"""Fault injection knobs: errors, outages, forced 429s, latency, hangs, lost callbacks.

Random choices use a private ``random.Random`` that ``seed`` re-seeds, and each
random knob has a "next N requests" counter too, so tests need not be flaky.
The simulator's lock guards every call.

Every knob is checked for type and range before any is applied, and the error
names the knob and what it accepts: a typo such as ``{"latency": 1e400}`` must
be a clear 400, not a server that sleeps forever.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

WHEN = ("after_store", "before_store")

#: Upper bounds, generous but finite (``threading.Event.wait`` overflows on huge values).
MAX_SECONDS = 3600.0
MAX_COUNT = 1_000_000
MAX_SEED = 2**63 - 1


@dataclass
class Faults:
    """The current fault settings; all off by default."""

    seed: int | None = None
    error_rate: float = 0.0
    error_next: int = 0
    unavailable_rate: float = 0.0
    unavailable_next: int = 0
    error_when: str = "before_store"
    force_429: int | str = 0
    rate_limit_rate: float = 0.0
    latency: float = 0.0
    hang_rate: float = 0.0
    hang_next: int = 0
    hang_seconds: float = 35.0
    hang_when: str = "after_store"
    drop_callbacks: bool | float = False

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - fault injection, not security

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data."""
        return asdict(self)

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` after validating all of them (all or nothing)."""
        checked = check_knobs(changes, {field.name for field in fields(self)})
        for name, value in checked.items():
            setattr(self, name, value)
        if "seed" in checked:
            self._random = random.Random(self.seed)  # noqa: S311 - fault injection, not security

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def post_outcome(self) -> str | None:
        """For one POST: ``"error"`` (500), ``"unavailable"`` (503) or ``None``."""
        if self.error_next > 0:
            self.error_next -= 1
            return "error"
        if self.unavailable_next > 0:
            self.unavailable_next -= 1
            return "unavailable"
        if self._chance(self.error_rate):
            return "error"
        if self._chance(self.unavailable_rate):
            return "unavailable"
        return None

    def take_force_429(self) -> bool:
        """True if this POST must be answered with a RateLimitError."""
        if self.force_429 == "always":
            return True
        if isinstance(self.force_429, int) and self.force_429 > 0:
            self.force_429 -= 1
            return True
        return self._chance(self.rate_limit_rate)

    def take_hang(self) -> bool:
        """True if this POST must hang for ``hang_seconds``."""
        if self.hang_next > 0:
            self.hang_next -= 1
            return True
        return self._chance(self.hang_rate)

    def drop_callback(self) -> bool:
        """True if this callback must silently never be sent."""
        if isinstance(self.drop_callbacks, bool):
            return self.drop_callbacks
        return self._chance(self.drop_callbacks)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(low: int, high: int, what: str) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name}: must be a whole number {what} from {low} to {high}, not {_shown(value)}")
        return value

    return check


def _share(name: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{name}: must be a share from 0 to 1 (e.g. 0.25), not {_shown(value)}")
    return float(value)


def _seconds(name: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"{name}: must be a number of seconds from 0 to {MAX_SECONDS:g}, not {_shown(value)}")
    return float(value)


def _when(name: str, value: Any) -> str:
    if value not in WHEN:
        raise ValueError(f"{name}: must be {' or '.join(repr(item) for item in WHEN)}, not {_shown(value)}")
    return str(value)


def _seed(name: str, value: Any) -> int | None:
    if value is None:
        return None
    return int(_whole(-MAX_SEED, MAX_SEED, "")(name, value))


def _force_429(name: str, value: Any) -> int | str:
    if value == "always":
        return "always"
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f'{name}: must be "always" or a whole number of requests from 0 to {MAX_COUNT}, '
                         f"not {_shown(value)}")
    return value


def _drop_callbacks(name: str, value: Any) -> bool | float:
    if isinstance(value, bool):
        return value
    if not _is_number(value) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{name}: must be true, false or a share from 0 to 1, not {_shown(value)}")
    return float(value)


def _bucket_tokens(name: str, value: Any) -> int:
    return int(_whole(0, 1000, "of tokens")(name, value))


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "seed": _seed,
    "error_rate": _share,
    "unavailable_rate": _share,
    "rate_limit_rate": _share,
    "hang_rate": _share,
    "error_next": _whole(0, MAX_COUNT, "of requests"),
    "unavailable_next": _whole(0, MAX_COUNT, "of requests"),
    "hang_next": _whole(0, MAX_COUNT, "of requests"),
    "force_429": _force_429,
    "latency": _seconds,
    "hang_seconds": _seconds,
    "error_when": _when,
    "hang_when": _when,
    "drop_callbacks": _drop_callbacks,
    "bucket_tokens": _bucket_tokens,
}

#: Knobs that act on the rate limiter rather than live in :class:`Faults`.
LIMITER_KNOBS = frozenset({"bucket_tokens"})


def check_knobs(changes: Any, known: set[str] | None = None) -> dict[str, Any]:
    """Validate knob changes; return them normalised, or raise ValueError naming the first bad one."""
    if not isinstance(changes, dict):
        raise ValueError("faults: must be an object of knob names to values")
    allowed = set(_CHECKS) if known is None else known
    unknown = sorted(_shown(name)[1:-1] for name in set(changes) - allowed)
    if unknown:
        raise ValueError(f"unknown fault knob(s): {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return {name: _CHECKS[name](name, value) for name, value in changes.items()}
