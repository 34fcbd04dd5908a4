"""Fault injection knobs: errors, outages, forced 429s, latency, hangs, lost callbacks.

Random choices use a private ``random.Random`` that ``seed`` re-seeds, and each
random knob has a "next N requests" counter too, so tests need not be flaky.
The simulator's lock guards every call.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

HANG_WHEN = ("after_store", "before_store")


@dataclass
class Faults:
    """The current fault settings; all off by default."""

    seed: int | None = None
    error_rate: float = 0.0
    error_next: int = 0
    unavailable_rate: float = 0.0
    unavailable_next: int = 0
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
        known = {field.name for field in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        checked = {name: _check(name, value) for name, value in changes.items()}
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


def _check(name: str, value: Any) -> Any:
    if name == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("seed: must be an integer or null")
        return value
    if name == "hang_when":
        if value not in HANG_WHEN:
            raise ValueError("hang_when: must be after_store or before_store")
        return value
    if name == "force_429":
        if value == "always" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        raise ValueError('force_429: must be a number of requests or "always"')
    if name == "drop_callbacks":
        if isinstance(value, bool):
            return value
        return _rate(name, value)
    if name.endswith("_next"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: must be a whole number of requests")
        return value
    if name.endswith("_rate"):
        return _rate(name, value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name}: must be a number of seconds")
    return float(value)


def _rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name}: must be a share between 0 and 1")
    return float(value)
