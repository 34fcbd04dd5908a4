"""How the send paths use the shared budget: a slot before every POST to Notify, one
count of the daily limit per POST, and what Notify's answer gives back.

Every path that POSTs an email goes through :meth:`Pacer.before_post` and
:meth:`Pacer.after_post`: the synchronous ``send_email`` (waiting up to
:data:`~flask_dm_email.notify.SYNC_MAX_WAIT`), the outbox worker and the Celery task (waiting their turn), and
``flask dm-email send-test``. Lookups (GETs) take nothing: Notify does not limit them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import forksafe
from .attempts import Attempt, Outcome
from .errors import EmailUnavailableError
from .pacing import PACE, Limiter, LimiterSnapshot, LimiterWaitTooLong, LimitStore, limiter_key
from .pacing_settings import PacingSettings

logger = logging.getLogger("flask_dm_email.pacing")

#: Notify's smoke-test addresses: validated and answered 201, never stored, never counted
#: against the daily limit (``SIMULATED_EMAIL_ADDRESSES`` in notifications-api).
SMOKE_TEST_ADDRESSES = frozenset(
    {
        "simulate-delivered@notifications.service.gov.uk",
        "simulate-delivered-2@notifications.service.gov.uk",
        "simulate-delivered-3@notifications.service.gov.uk",
    }
)

# Outcomes after which Notify certainly did not store the email: its daily count is
# given back. (A 5xx or a timeout may have stored it: the count stays.)
_NOT_STORED = frozenset({Outcome.RATE_LIMITED, Outcome.DAILY_LIMITED, Outcome.NOT_SENT, Outcome.FAILED})


#: The share of the daily limit at which an alert says it will soon be reached.
QUOTA_ALERT_SHARE = 0.9
#: Seconds between two looks at the daily count for that alert, in a process.
QUOTA_CHECK_EVERY = 60.0


class DailyLimitReached(Exception):
    """Today's count has reached ``DM_NOTIFY_DAILY_LIMIT`` (``limit``), or Notify itself
    answered 429 TooManyRequestsError today (``limit`` None): nothing was sent or counted."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        if limit is None:
            what = ("Notify refused this service's emails for the rest of the day (429 TooManyRequestsError: "
                    "its daily limit, which counts every sender of the service, is reached)")
        else:
            what = (f"DM_NOTIFY_DAILY_LIMIT ({limit} emails a day, counted by every sender of this Notify "
                    "service) is reached")
        super().__init__(
            f"{what}; it starts again at 00:00 UTC. Queue the email (queue_email holds it until then) "
            "or raise the limit if Notify allows the service more."
        )


@dataclass(frozen=True)
class Ticket:
    """What :meth:`Pacer.before_post` took, for :meth:`Pacer.after_post` to settle."""

    counted: bool


class Pacer:
    """One app's view of its Notify service's shared budget.

    :param settings: the app's pacing settings.
    :param api_key: the Notify key (only its service id is kept, in the limiter key).
    :param open_store: makes the store on first use (the outbox's database may not exist
        until then).
    """

    def __init__(self, settings: PacingSettings, api_key: str, open_store: Callable[[], LimitStore]) -> None:
        self.settings = settings
        self.key = limiter_key(api_key)
        self._open_store = open_store
        self._limiter: Limiter | None = None
        self._lock = forksafe.Lock()
        # After Notify's own 429 TooManyRequestsError, this process sends nothing more
        # until 00:00 UTC (epoch seconds): every further request would be refused too.
        self._refused_until = 0.0
        #: When that refusal came (epoch seconds), or None: an operator's release of the
        #: held emails after it (:meth:`forget_refusal`) lets this process send again.
        self.refused_at: float | None = None
        #: Returns when an operator last released the held emails (epoch seconds), or
        #: None; ``init_app`` reads the outbox's record. Asked only while this process is
        #: refused (each send would be refused otherwise: one small read is cheaper).
        self.released_at: Callable[[], float | None] | None = None
        #: Called as ``on_alert(kind, message, details)`` when 90 % of the daily limit is
        #: used (checked at most once a minute); ``init_app`` routes it to the alerts.
        self.on_alert: Callable[[str, str, dict[str, Any]], object] | None = None
        self._quota_checked = -1e9

    _last_complaint = -1e9

    def _unreachable(self, error: BaseException) -> None:
        """Log (at most once a minute) that the store could not be reached."""
        now = time.monotonic()
        if now - self._last_complaint >= 60:
            self._last_complaint = now
            logger.error(
                "The shared rate budget (%s) could not be reached (%s): sending unpaced until it can. "
                "Notify still enforces its own limit.", self.settings.where, type(error).__name__,
            )

    @property
    def limiter(self) -> Limiter:
        if self._limiter is None:
            with self._lock:
                if self._limiter is None:
                    self._limiter = Limiter(
                        self._open_store(), self.key, self.settings.rate, self.settings.burst,
                        self.settings.daily_limit,
                    )
        return self._limiter

    @property
    def refused(self) -> bool:
        """Whether Notify's daily-limit refusal today stops this process from sending
        (unless an operator has released the held emails since: then it sends again)."""
        if time.time() >= self._refused_until:
            return False
        if self.released_at is not None and self.refused_at is not None:
            try:
                released = self.released_at()
            except Exception as error:  # the outbox database is down: still refused
                self._unreachable(error)
                return True
            if released is not None and released > self.refused_at:
                self.forget_refusal()
                return False
        return True

    def forget_refusal(self) -> None:
        """Send again before 00:00 UTC: an operator released the held emails after
        Notify's daily-limit refusal (Notify raised the service's limit, say)."""
        self._refused_until = 0.0
        self.refused_at = None

    def before_post(self, to: str, max_wait: float, *, horizon: float | None = None,
                    cancel: threading.Event | None = None) -> Ticket:
        """Count the email against the daily limit, then take (and wait for) a slot
        (booked at most ``horizon`` ahead when given: see
        :meth:`~flask_dm_email.pacing.Limiter.acquire`).

        :raises DailyLimitReached: over the daily limit (nothing taken).
        :raises ~flask_dm_email.pacing.LimiterWaitTooLong: no slot within ``max_wait``,
            or ``cancel`` was set while waiting (nothing taken: the daily count is given back).
        """
        if self.refused:
            raise DailyLimitReached(None)
        counted = False
        try:
            limiter = self.limiter
            if self.settings.daily_limit is not None and to.strip().lower() not in SMOKE_TEST_ADDRESSES:
                if not limiter.take_daily():
                    raise DailyLimitReached(self.settings.daily_limit)
                counted = True
            limiter.acquire(max_wait, horizon=horizon, cancel=cancel)
            if counted:
                self._check_quota()
        except (DailyLimitReached, LimiterWaitTooLong):
            if counted:
                self.limiter.give_back_daily()
            raise
        except Exception as error:  # the store is down: a database or Redis error
            if self.settings.daily_limit is not None:
                # The daily limit must never be exceeded, and nobody can count now.
                raise EmailUnavailableError(
                    f"The shared rate budget ({self.settings.where}) could not be reached "
                    f"({type(error).__name__}), and DM_NOTIFY_DAILY_LIMIT cannot be kept without it; "
                    "nothing was sent. Try again when it is back."
                ) from None
            self._unreachable(error)
            return Ticket(counted=False)
        return Ticket(counted=counted)

    def _check_quota(self) -> None:
        limit = self.settings.daily_limit
        now = time.monotonic()
        if self.on_alert is None or limit is None or now - self._quota_checked < QUOTA_CHECK_EVERY:
            return
        self._quota_checked = now
        used = self.limiter.snapshot()["daily_used"]
        if used >= QUOTA_ALERT_SHARE * limit:
            self.on_alert(
                "daily-quota",
                f"{used} of DM_NOTIFY_DAILY_LIMIT ({limit}) used today ({used / limit:.0%}); at the limit emails "
                "are held until 00:00 UTC.",
                {"daily_used": used, "daily_limit": limit},
            )

    def after_post(self, ticket: Ticket, attempt: Attempt) -> None:
        """Settle a POST: a 429 ``RateLimitError`` pushes every sender of the service back;
        an email Notify certainly did not store gives its daily count back."""
        try:
            self._settle(ticket, attempt)
        except Exception as error:  # the store is down: nothing to give back to
            self._unreachable(error)

    def _settle(self, ticket: Ticket, attempt: Attempt) -> None:
        if attempt.outcome is Outcome.DAILY_LIMITED:
            self.refused_at = time.time()
            self._refused_until = (self.refused_at // 86_400 + 1) * 86_400
        if attempt.outcome is Outcome.RATE_LIMITED:
            logger.warning(
                "Notify answered 429 RateLimitError although the shared budget %s allowed the request: "
                "something else sends for this service (another app, a different store, Notify's web "
                "interface) or its limit is lower than DM_NOTIFY_RATE_LIMIT. Every sender waits.",
                self.key,
            )
            self.limiter.after_429()
        if ticket.counted and attempt.outcome in _NOT_STORED:
            self.limiter.give_back_daily()

    def snapshot(self) -> LimiterSnapshot:
        """The budget now: rate, burst, tokens, wait, daily use (for status and metrics)."""
        return self.limiter.snapshot()

    def report(self) -> dict[str, Any]:
        """The budget for people and scripts (``flask dm-email config`` and ``outbox
        status``): settings, where it lives, and, if the store answers, its state now."""
        settings = self.settings
        report: dict[str, Any] = {
            "key": self.key, "where": settings.where, "rate_limit": settings.rate_text,
            "paced_per_second": round(settings.rate[0] / settings.rate[1] * PACE, 3), "burst": settings.burst,
            "daily_limit": settings.daily_limit,
        }
        try:
            now = self.snapshot()
        except Exception as error:  # the store is down: say so, do not fail the command
            report["state"] = f"unreachable ({type(error).__name__})"
            return report
        report.update(state="ok", tokens=now["tokens"], wait=now["wait"], day=now["day"],
                      daily_used=now["daily_used"])
        return report


def budget_lines(report: dict[str, Any]) -> list[str]:
    """:meth:`Pacer.report` as lines of text."""
    lines = [
        f"rate budget: {report['key']} in {report['where']}",
        f"  rate: {report['rate_limit']} (sent at {report['paced_per_second']:g}/s), burst {report['burst']}",
    ]
    if report["state"] != "ok":
        lines.append(f"  now: {report['state']}")
        return lines
    if report["tokens"] is None:
        lines.append("  now: unused (the first request waits two intervals)")
    else:
        lines.append(f"  now: {report['tokens']:.1f} requests may go at once; the next waits {report['wait']:.3f} s")
    limit = report["daily_limit"]
    used = f"{report['daily_used']} of {limit}" if limit else f"{report['daily_used']} (no DM_NOTIFY_DAILY_LIMIT)"
    lines.append(f"  today ({report['day']} UTC): {used}")
    return lines
