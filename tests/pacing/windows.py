"""Counting admissions in time windows: how the pacing's promise is checked."""

from __future__ import annotations


def busiest(times: list[float], window: float) -> int:
    """The most of ``times`` in any half-open window of ``window`` seconds (less a
    microsecond, for the rounding of epoch-sized floats)."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - window + 1e-6:
            first += 1
        most = max(most, last - first + 1)
    return most
