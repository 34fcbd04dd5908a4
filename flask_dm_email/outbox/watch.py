"""Checks that raise alerts about the outbox as a whole, made by the processes that are
working anyway (a receipt arriving, an email being queued), each at most once a minute
in a process: permanent failures above 5 % of the last 1,000, and emails due for over a
minute that no worker has claimed."""

from __future__ import annotations

import time

from flask import Flask

from .. import forksafe
from ..alerts import raise_alert
from . import states
from .store import Store

#: Seconds between two checks of one kind in one process.
CHECK_EVERY = 60.0
#: Permanent failures above this share of the last 1,000 outcomes raise an alert...
PERMANENT_FAILURE_SHARE = 0.05
#: ...once there are at least this many outcomes to judge by.
MIN_OUTCOMES = 20
#: Emails due for longer than this, unclaimed, mean no worker is keeping up (or running).
STALLED_SECONDS = 60.0

_last: dict[tuple[int, str], float] = {}
_lock = forksafe.Lock()


def _due(app: Flask, name: str, *, mark: bool = True) -> bool:
    now = time.monotonic()
    with _lock:
        if now - _last.get((id(app), name), -CHECK_EVERY) < CHECK_EVERY:
            return False
        if mark:
            _last[(id(app), name)] = now
        return True


def _mark(app: Flask, name: str) -> None:
    with _lock:
        _last[(id(app), name)] = time.monotonic()


def check_permanent_failures(app: Flask, store: Store) -> None:
    """After a permanent failure: alert if they are over 5 % of the last 1,000 outcomes."""
    if not _due(app, "permanent-failures", mark=False):
        return
    outcomes = store.recent_outcomes(1000)
    total = sum(outcomes.values())
    failed = outcomes.get(states.PERMANENT_FAILURE, 0)
    if total < MIN_OUTCOMES:
        return  # too few to judge: look again at the next one
    _mark(app, "permanent-failures")
    if failed / total > PERMANENT_FAILURE_SHARE:
        raise_alert(
            app, "permanent-failures",
            f"Permanent failures are {failed / total:.1%} of the last {total} emails Notify finished "
            f"({failed}): a list of bad addresses, or a template sent to the wrong people?",
            {"permanent_failures": failed, "outcomes": total},
        )


def check_stalled(app: Flask, store: Store) -> None:
    """When an email is queued: alert if emails have been due for over a minute unclaimed."""
    if not _due(app, "stalled"):
        return
    age = store.oldest_due_age()
    if age is not None and age > STALLED_SECONDS and not store.paused():
        raise_alert(
            app, "stalled",
            f"Emails have been due for {age:.0f} s and no worker has claimed them: is "
            "'flask dm-email worker' running, and keeping up?",
            {"oldest_due_seconds": round(age, 1)},
        )


def reset() -> None:
    """Forget when each check last ran (tests)."""
    with _lock:
        _last.clear()
