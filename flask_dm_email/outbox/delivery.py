"""Deliver one claimed row: the worker's half of the send path.

In order: a row whose last attempt was unclear is looked up by its unique
``notify_reference`` first (found: it was sent; not found before it settles: wait, never
resend); the lease is renewed, so that it outlasts the request and the time the request
may stay in flight; one attempt is made; its outcome is recorded by compare-and-set on
the claim token, with the next attempt scheduled in the database instead of a sleep.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from notifications_python_client.errors import APIError
from sqlalchemy import RowMapping

from ..alerts import raise_alert
from ..attempts import Attempt, Outcome
from ..backends import EmailBackend, OutgoingEmail
from ..config import Settings
from ..errors import EmailError, EmailUnavailableError
from ..pacer import DailyLimitReached, Ticket
from ..pacing import LimiterWaitCancelled, LimiterWaitTooLong
from ..sending import make_result, report_sent
from ..signals import email_failed
from ..state import DMEmailState
from . import states
from .holds import hold_until_midnight
from .records import QueuedEmail, status_changed
from .store import Store

logger = logging.getLogger("flask_dm_email.outbox")

# Errors that are about the sender, not the email: failing every row in turn would be
# wrong, so the outbox pauses and says so instead.
_SENDER_STATUS_CODES = frozenset({401, 403})
#: Notify's 400 for a service without the permission to send emails (every email of the
#: service gets it, whatever its address or template).
_SERVICE_CANNOT_SEND = "Service is not allowed to send emails"


def _sender_fix(attempt: Attempt) -> str | None:
    """What to fix when Notify refused the sender rather than the email, else None."""
    if attempt.status_code in _SENDER_STATUS_CODES:
        return "Fix DM_NOTIFY_KEY or the clock"
    if attempt.status_code == 400 and attempt.error is not None and any(
        _SERVICE_CANNOT_SEND in str(error.get("message")) for error in attempt.error.notify_errors or ()
    ):
        return "Give the Notify service the permission to send emails (its settings in Notify)"
    return None
#: The longest a worker thread waits for its slot in the shared budget; a row whose slot
#: is further away goes back to the queue, due when the slot is (no attempt spent).
PACE_MAX_WAIT = 30.0
#: How far ahead a worker thread books its slot. Booking further would let a busy worker
#: hold the next seconds of the budget, and a synchronous ``send_email`` (which waits at
#: most 2 s) would be refused.
PACE_HORIZON = 0.5


def outgoing_email(row: Mapping[Any, Any]) -> OutgoingEmail:
    """The email a row holds, as the backend takes it (its reference is the row's unique
    ``notify_reference``)."""
    return OutgoingEmail(
        to=row["to_address"],
        template_id=row["template_id"],
        reference=row["notify_reference"],
        to_hash=row["to_hash"],
        personalisation=row["personalisation"],
        reply_to_id=row["reply_to_id"],
        template_name=row["template_name"],
        redirected=bool(row["redirected"]),
    )


def _attempt(backend: EmailBackend, email: OutgoingEmail) -> Attempt:
    post = getattr(backend, "post", None)
    if post is not None:
        result: Attempt = post(email)
        return result
    try:  # the log and memory backends answer at once
        return Attempt(Outcome.SENT, response=backend.send(email), status_code=201)
    except EmailError as error:
        return Attempt(Outcome.FAILED, error=error, error_class=type(error).__name__)


def lookup_row(backend: EmailBackend, row: Mapping[Any, Any]) -> Mapping[str, Any] | None:
    """Notify's notification of the row's email created since the row was, whatever its
    status: a notification Notify stored and then failed was still stored, and posting
    again would make a second one.

    A queued row's reference holds the row's id, so it is the row's alone. A synchronous
    send's is the caller's, who may give one reference to many people's emails: only a
    notification to this row's address with its template counts (while the row still
    has its address)."""
    reference = row["notify_reference"]
    lookup = getattr(backend, "lookup", None)
    if lookup is None:
        return backend.find_sent(reference)
    own_reference = str(row["id"]) in reference
    email = None if own_reference or row["to_address"] is None else outgoing_email(row)
    found: Mapping[str, Any] | None = lookup(
        reference, since=datetime.fromtimestamp(row["created_at"], UTC), email=email, any_status=True)
    return found


@dataclass
class Delivery:
    """What a worker needs to deliver rows of one app."""

    app: Flask
    state: DMEmailState
    store: Store
    #: ``time.monotonic()`` just before the claim that gave this worker its rows, or None.
    claimed_at: float | None = None
    #: The worker's stop: set, a wait for a slot in the rate budget ends at once.
    stopping: threading.Event | None = None

    @property
    def settings(self) -> Settings:
        return self.state.settings

    def retry_delay(self, attempts: int) -> float:
        schedule = self.settings.outbox.retry_schedule
        return schedule[min(attempts, len(schedule)) - 1] if attempts else schedule[0]

    def out_of_attempts(self, row: Mapping[Any, Any], attempts: int) -> bool:
        return attempts > len(self.settings.outbox.retry_schedule) or self.store.now_value() > row["abandon_after"]

    def deliver(self, row: RowMapping) -> str | None:
        """Deliver one claimed row; the status it ended in (None if this worker lost it)."""
        token = row["claim_token"]
        if row["to_address"] is None:
            # Purged (retention, or an erasure) while queued again by an operator's retry:
            # there is nobody to send it to.
            self._finish(row, token, states.FAILED, {"last_error_class": "AddressPurged", "last_status_code": None},
                         kind="failed", error_class="AddressPurged")
            return states.FAILED
        email = outgoing_email(row)
        if row["maybe_sent"]:
            settled = self._settle(row, token, email)
            if settled is not None:
                return settled
        pacer = self.state.pacer
        ticket: Ticket | None = None
        if pacer is not None:
            asked = time.monotonic()
            try:
                ticket = pacer.before_post(email.to, PACE_MAX_WAIT, horizon=PACE_HORIZON, cancel=self.stopping)
            except DailyLimitReached as reached:
                refused_at = pacer.refused_at if reached.limit is None else None
                return self._hold_for_the_day(row, token, kind="daily-limit-reached", refused_at=refused_at)
            except LimiterWaitCancelled:  # the worker is stopping: back for another, unsent
                self._finish(row, token, self._back_to_queue(row), kind="given-back", delay=0.0)
                return None
            except LimiterWaitTooLong as error:
                # Its wait is counted from the request for a slot, part of it already waited.
                due_in = error.wait - (time.monotonic() - asked)
                self._finish(row, token, self._back_to_queue(row), kind="paced", delay=due_in)
                return None
            except EmailUnavailableError:  # the daily count's store is down: no attempt spent
                self._finish(row, token, self._back_to_queue(row), kind="budget-unreachable", delay=30.0)
                return None
        # Only now, after any wait for a slot, is the lease checked: it must outlast the
        # request and the time the request may stay in flight, or be renewed first.
        if not self._lease_covers_the_request() and not self.store.renew(
            row["id"], token, self.settings.outbox.lease_seconds
        ):
            if pacer is not None and ticket is not None:
                pacer.after_post(ticket, Attempt(Outcome.NOT_SENT))  # nothing was sent: count back
            return None
        attempt = _attempt(self.state.backend, email)
        if pacer is not None and ticket is not None:
            pacer.after_post(ticket, attempt)
        return self._record(row, token, email, attempt)

    def _lease_covers_the_request(self) -> bool:
        """True when the lease the claim set certainly outlasts this request and its time
        in flight, so renewing it would change nothing. Measured from before the claim
        (the lease began no earlier, by the database's clock), with this machine's
        monotonic clock; the worker's claims save a write per email this way."""
        if self.claimed_at is None:
            return False
        retry = self.settings.retry
        needed = retry.timeout + retry.in_flight_bound + 10
        return self.settings.outbox.lease_seconds - (time.monotonic() - self.claimed_at) >= needed

    @staticmethod
    def _back_to_queue(row: RowMapping) -> str:
        return states.QUEUED if row["attempts"] == 0 else states.RETRYING

    def _hold_for_the_day(self, row: RowMapping, token: str, *, kind: str, http_status: int | None = None,
                          error_class: str | None = None, refused_at: float | None = None) -> str:
        """Over the daily limit (ours, or Notify's 429 TooManyRequestsError): this row and
        every row due before 00:00 UTC wait until then. With ``refused_at`` (this process
        remembers Notify's refusal since then), unless an operator released the held
        emails since: then the row goes back, due now, and the process sends again."""
        held = hold_until_midnight(self.store, unless_released_after=refused_at)
        if held is None:
            if self.state.pacer is not None:
                self.state.pacer.forget_refusal()
            self._finish(row, token, self._back_to_queue(row), kind="released", delay=0.0)
            return self._back_to_queue(row)
        count, midnight, until_midnight = held
        values = {"last_error_class": error_class, "last_status_code": http_status} if error_class else None
        self._finish(row, token, states.HELD, values, kind=kind, http_status=http_status, error_class=error_class,
                     delay=until_midnight)
        if count:
            until = datetime.fromtimestamp(midnight, UTC).isoformat()
            raise_alert(self.app, "daily-limit",
                        f"Daily limit reached ({error_class or 'DM_NOTIFY_DAILY_LIMIT'}): {count + 1} queued emails "
                        f"are held until {until}.",
                        {"held": count + 1, "until": until, "error_class": error_class})
        return states.HELD

    def _settle(self, row: RowMapping, token: str, email: OutgoingEmail) -> str | None:
        """Look up a row whose last attempt was unclear. Returns the status it ended in,
        or None when it is proved unsent and may be posted."""
        try:
            found = lookup_row(self.state.backend, row)
        except (APIError, EmailError, OSError) as error:  # Notify could not be asked: nothing is known yet
            delay = self.retry_delay(max(row["attempts"], 1))
            self._finish(row, token, states.RETRYING, kind="lookup-failed", error_class=type(error).__name__,
                         delay=delay)
            return states.RETRYING
        if found is not None:
            # Whatever became of it there (a receipt or the status poll says): never posted again.
            return self._sent(row, token, email, found, kind="found-by-lookup")
        settles_at = row["settles_at"] or 0.0
        now = self.store.now_value()
        if now < settles_at:
            # Not stored yet, but a delayed request could still arrive: wait, do not resend.
            self._finish(row, token, states.RETRYING, kind="not-yet-settled", delay=settles_at - now)
            return states.RETRYING
        return None

    def _record(self, row: RowMapping, token: str, email: OutgoingEmail, attempt: Attempt) -> str | None:
        code, cls = attempt.status_code, attempt.error_class
        attempts = row["attempts"] + 1
        if attempt.outcome is Outcome.SENT:
            assert attempt.response is not None
            return self._sent(row, token, email, attempt.response, kind="sent")
        if attempt.outcome is Outcome.MAYBE_SENT:
            # Never abandoned while unclear: the lookup decides, however long it takes.
            values = {"attempts": attempts, "maybe_sent": True, "last_error_class": cls, "last_status_code": code}
            self._finish(row, token, states.RETRYING, values, kind="maybe-sent", http_status=code,
                         error_class=cls, delay=self.retry_delay(attempts), settles_in=attempt.settles_after)
            return states.RETRYING
        if attempt.outcome is Outcome.RATE_LIMITED:
            # Notify's per-minute limit: not stored, no attempt spent.
            # Due again at once: the shared budget, pushed back, decides when it goes.
            self._finish(row, token, states.QUEUED, {"last_error_class": cls, "last_status_code": code},
                         kind="rate-limited", http_status=code, error_class=cls, delay=0.0)
            return states.QUEUED
        if attempt.outcome is Outcome.DAILY_LIMITED:
            return self._hold_for_the_day(row, token, kind="daily-limited", http_status=code, error_class=cls)
        if attempt.outcome is Outcome.NOT_SENT and not self.out_of_attempts(row, attempts):
            values = {"attempts": attempts, "maybe_sent": False, "last_error_class": cls, "last_status_code": code}
            self._finish(row, token, states.RETRYING, values, kind="not-sent", http_status=code, error_class=cls,
                         delay=self.retry_delay(attempts))
            return states.RETRYING
        fix = _sender_fix(attempt)
        if fix is not None:
            # The key, the clock or the service is wrong: every email would fail the same way.
            self._finish(row, token, states.QUEUED, {"last_error_class": cls, "last_status_code": code},
                         kind="sender-refused", http_status=code, error_class=cls, delay=60.0)
            if self.store.set_paused(True, f"Notify answered {code} {cls}"):
                raise_alert(self.app, "paused",
                            f"Outbox paused: Notify refused the sender ({code} {cls}). {fix}, then run "
                            "'flask dm-email outbox resume'.",
                            {"status_code": code, "error_class": cls})
            return states.QUEUED
        # The personalisation stays (until the retention purge): an operator's retry sends it.
        values = {"attempts": attempts, "last_error_class": cls or "Unreachable", "last_status_code": code}
        if self._finish(row, token, states.FAILED, values, kind="failed", http_status=code, error_class=cls):
            error = attempt.error or EmailError(f"Gave up after {attempts} attempts ({cls}).",
                                                reference=email.reference)
            email_failed.send(self.app, email=email, error=error)
            raise_alert(self.app, "failed",
                        f"An email failed for good: reference {email.reference}, template "
                        f"{email.template_name or email.template_id}, after {attempts} attempts "
                        f"({cls or 'Unreachable'}, {code or 'no answer'}). 'flask dm-email outbox show' has its "
                        "timeline; 'outbox retry' sends it again.",
                        {"reference": email.reference, "error_class": cls, "status_code": code, "attempts": attempts})
        return states.FAILED

    def _sent(self, row: RowMapping, token: str, email: OutgoingEmail, response: Mapping[str, Any],
              *, kind: str) -> str:
        values = {"notify_id": str(response.get("id")), "maybe_sent": False, "personalisation": None,
                  "last_error_class": None, "last_status_code": None}
        if self._finish(row, token, states.SENT, values, kind=kind, http_status=201):
            report_sent(self.app, self.state, email, make_result(self.state, email, response, already_sent=False))
        return states.SENT

    def _finish(self, row: RowMapping, token: str, new: str, values: Mapping[str, Any] | None = None,
                **kwargs: Any) -> bool:
        delay = kwargs.get("delay")
        if delay is not None:
            kwargs["delay"] = max(0.0, float(delay)) if math.isfinite(delay) else 3600.0
        changed = self.store.finish(row["id"], token, new, values, **kwargs)
        if changed:
            status_changed(self.app, QueuedEmail.from_row({**row, **(values or {}), "status": new}),
                           states.SENDING, new)
        return changed
