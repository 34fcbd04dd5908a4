"""Alerts: what a team wants to hear about first (seed 000: "know about backend errors
first"), as an ERROR record on the ``flask_dm_email.alerts`` logger and the
``outbox_alert`` signal, at most once per ``kind`` every 10 minutes in a process, with a
count of what was held back since.

Kinds: ``failed`` (an email ended ``failed-send-to-notify``), ``permanent-failures`` (over
5 % of the last 1,000 emails Notify finished), ``daily-quota`` (90 % of
``DM_NOTIFY_DAILY_LIMIT`` used), ``daily-limit`` (the queue is held until 00:00 UTC),
``paused`` (Notify refused the sender: the outbox paused itself), ``stalled`` (emails due
for over a minute and no worker claimed them). Details never hold an address or a key.

Wire the logger to Sentry, or the signal to an email to the team (see the Operations
docs). A dead worker cannot raise an alert: watch the metrics' oldest-due age too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import forksafe
from .signals import outbox_alert

logger = logging.getLogger("flask_dm_email.alerts")

#: Seconds between two alerts of one kind in one process.
QUIET_SECONDS = 600.0


class _Throttle:
    def __init__(self) -> None:
        self.lock = forksafe.Lock()
        self.last: dict[tuple[int, str], float] = {}
        self.suppressed: dict[tuple[int, str], int] = {}

    def allow(self, app: Flask, kind: str, now: float) -> int | None:
        """None if this alert is held back; else how many were held back before it."""
        key = (id(app), kind)
        with self.lock:
            if now - self.last.get(key, -QUIET_SECONDS) < QUIET_SECONDS:
                self.suppressed[key] = self.suppressed.get(key, 0) + 1
                return None
            self.last[key] = now
            return self.suppressed.pop(key, 0)


_throttle = _Throttle()


def raise_alert(app: Flask, kind: str, message: str, details: Mapping[str, Any] | None = None) -> bool:
    """Log ``message`` at ERROR on ``flask_dm_email.alerts`` and send ``outbox_alert``
    (``kind``, ``details`` plus ``suppressed``: how many of this kind were held back in
    the last quiet period). Returns False when this one is held back."""
    suppressed = _throttle.allow(app, kind, time.monotonic())
    if suppressed is None:
        return False
    full = {**(details or {}), "suppressed": suppressed}
    note = f" ({suppressed} more since the last alert of this kind)" if suppressed else ""
    logger.error("%s%s", message, note, extra={"alert": kind})
    outbox_alert.send(app, kind=kind, details=full)
    return True


def reset() -> None:
    """Forget every throttle (tests)."""
    global _throttle
    _throttle = _Throttle()
