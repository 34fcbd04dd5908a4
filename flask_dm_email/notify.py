"""The ``notify`` backend: send through GOV.UK Notify with notifications-python-client.

Reliability rules, in order of importance:

* never send an email twice: after an attempt whose outcome is unclear (a timeout, a
  dropped connection, a 5xx), nothing is sent again until a lookup of the reference,
  made when the request can no longer be on its way to Notify, finds nothing
  (:data:`~flask_dm_email.retry.IN_FLIGHT_BOUND`). Notify has no idempotency key, so
  this is the only safe rule;
* never report success for an email Notify did not accept;
* retry only what a retry can fix (connection errors, timeouts, 5xx, the per-minute
  429), with capped exponential backoff and full jitter, bounded by attempts and time;
* keep Notify's own message in every error, and say what to fix.

:meth:`NotifyBackend.post` makes one attempt and says what happened
(:class:`~flask_dm_email.attempts.Attempt`); :meth:`NotifyBackend.send` is the
synchronous retry loop around it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from .attempts import Attempt, Outcome
from .backends import OutgoingEmail
from .errors import EmailError, EmailOutcomeUnknownError, EmailRateLimitError, EmailUnavailableError
from .notify_errors import classify_failure
from .pacer import DailyLimitReached, Pacer
from .pacing import LimiterWaitTooLong
from .retry import RetryPolicy, backoff_delay

logger = logging.getLogger("flask_dm_email.notify")

#: The longest a synchronous send waits for its slot in the shared budget.
SYNC_MAX_WAIT = 2.0

# Statuses of an earlier notification that mean "do not send again" for allow_resend=False.
# Temporary and technical failures never reached the person, so those may be resent.
_SENT_STATUSES = frozenset({"created", "sending", "pending", "sent", "delivered", "permanent-failure"})
# How far before this send's first attempt a notification found by reference may have
# been created and still be this send's own (clock skew between us and Notify).
_LOOKUP_SKEW = timedelta(seconds=5)
_NOTIFY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _parse_notify_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), _NOTIFY_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _is_of(notification: Mapping[str, Any], email: OutgoingEmail) -> bool:
    """Whether Notify's ``notification`` is ``email``: sent to its address (Notify answers
    with the address as it was posted; compared without case) with its template."""
    template = notification.get("template")
    template_id = template.get("id") if isinstance(template, Mapping) else None
    address = notification.get("email_address")
    return (
        isinstance(address, str) and address.strip().casefold() == email.to.strip().casefold()
        and str(template_id).strip().lower() == email.template_id.strip().lower()  # a UUID in any case
    )


class NotifyBackend:
    """Send through Notify. One client per thread: the client is not thread-safe.

    :param sleep: and ``clock`` (monotonic seconds) drive the retry loop; tests pass a
        fake pair so that waiting costs no time.
    """

    name = "notify"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._local = threading.local()
        #: The shared rate budget every POST takes its turn from (set by ``init_app``);
        #: None sends unpaced.
        self.pacer: Pacer | None = None

    @property
    def client(self) -> NotificationsAPIClient:
        """This thread's Notify client (each has its own connection pool)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = NotificationsAPIClient(  # type: ignore[no-untyped-call]
                self._api_key, base_url=self._base_url, timeout=self._retry.timeout
            )
            self._local.client = client
        return client

    # -- one step at a time (the outbox worker uses these) ---------------------------

    def post(self, email: OutgoingEmail) -> Attempt:
        """POST the email once and say what happened. Never raises for Notify's answers."""
        try:
            response = self.client.send_email_notification(  # type: ignore[no-untyped-call]
                email.to,
                email.template_id,
                personalisation=dict(email.personalisation) if email.personalisation else None,
                reference=email.reference,
                email_reply_to_id=email.reply_to_id,
            )
        except APIError as error:
            return classify_failure(error, email, self._api_key, self._retry.in_flight_bound)
        return Attempt(Outcome.SENT, response=dict(response), status_code=201)

    def paced_post(self, email: OutgoingEmail, max_wait: float) -> Attempt:
        """:meth:`post`, after taking a slot in the shared budget (waiting up to
        ``max_wait`` seconds) and counting the email against the daily limit.

        :raises ~flask_dm_email.errors.EmailRateLimitError: over the daily limit, or no
            slot within ``max_wait``; nothing was sent.
        """
        pacer = self.pacer
        if pacer is None:
            return self.post(email)
        try:
            ticket = pacer.before_post(email.to, max_wait)
        except DailyLimitReached as error:
            raise EmailRateLimitError(f"{error} Nothing was sent.", reference=email.reference) from None
        except LimiterWaitTooLong as error:
            raise EmailRateLimitError(
                f"{error} Nothing was sent (reference {email.reference}).", reference=email.reference
            ) from None
        attempt = self.post(email)
        pacer.after_post(ticket, attempt)
        return attempt

    def lookup(
        self, reference: str, since: datetime | None = None, *, email: OutgoingEmail | None = None,
        any_status: bool = False,
    ) -> Mapping[str, Any] | None:
        """The newest notification with ``reference`` that counts as sent (created after
        ``since``, less a little clock skew), or None. Raises ``APIError`` when Notify
        could not be asked: then nothing is known.

        :param email: only a notification *of this email* (its address and template): a
            caller may give one reference to many people's emails, and another person's
            must never pass for this one, which would then never be sent.
        :param any_status: every notification counts, failed ones too. An unclear attempt
            that Notify stored and then failed was still stored: posting it again would
            make a second notification (the outbox's rule; ``allow_resend=False`` resends
            after a failure).
        """
        response = self.client.get_all_notifications(reference=reference)  # type: ignore[no-untyped-call]
        for notification in response.get("notifications", []):
            if not any_status and notification.get("status") not in _SENT_STATUSES:
                continue
            if email is not None and not _is_of(notification, email):
                continue
            created = _parse_notify_time(notification.get("created_at"))
            if since is not None and (created is None or created < since - _LOOKUP_SKEW):
                continue
            return dict(notification)
        return None

    def status_of(self, notify_id: str) -> str:
        """Notify's status of one notification (``created``, ``sending``, ``delivered``,
        ``technical-failure``, ...). Raises ``APIError`` when Notify cannot be asked."""
        response = self.client.get_notification_by_id(notify_id)  # type: ignore[no-untyped-call]
        return str(response.get("status"))

    # -- the backend protocol ------------------------------------------------------

    def find_sent(self, reference: str) -> Mapping[str, Any] | None:
        """The newest notification with ``reference`` that counts as sent, if any."""
        try:
            return self.lookup(reference)
        except APIError as error:
            raise EmailUnavailableError(
                f"Could not ask Notify whether reference {reference} was already sent "
                f"({error.status_code}); nothing was sent. Try again later.",
                reference=reference,
                status_code=error.status_code,
            ) from error

    def send(self, email: OutgoingEmail) -> Mapping[str, Any]:
        """Send with retries, in this thread. See the module's rules."""
        return _SyncSend(self, email).run()


class _SyncSend:
    """One synchronous send: attempts, waits and lookups within the retry policy."""

    def __init__(self, backend: NotifyBackend, email: OutgoingEmail) -> None:
        self.backend = backend
        self.email = email
        self.policy = backend._retry
        self.clock = backend._clock
        self.started = self.clock()
        self.started_at = datetime.now(UTC)
        self.attempts = 0
        self.lookups = 0
        self.last: Attempt | None = None
        # While an unclear attempt may still reach Notify: when a lookup that finds
        # nothing proves it did not (monotonic seconds).
        self.unclear_until: float | None = None

    def run(self) -> Mapping[str, Any]:
        while True:
            if self.unclear_until is not None:
                found = self._look_up()
                if found is not None:
                    return found
                if self.clock() >= self.unclear_until and self._last_lookup_ok:
                    self.unclear_until = None  # proved not stored: a resend is safe
                elif not self._wait():
                    raise self._outcome_unknown()
                continue
            if self.attempts >= self.policy.max_attempts or (self.attempts and self._time_left() <= 0):
                raise self._give_up()
            self.attempts += 1
            began = self.clock()
            attempt = self.backend.paced_post(self.email, SYNC_MAX_WAIT)
            self.last = attempt
            if attempt.outcome is Outcome.SENT:
                assert attempt.response is not None
                return attempt.response
            if attempt.outcome in (Outcome.FAILED, Outcome.DAILY_LIMITED):
                assert attempt.error is not None
                raise attempt.error
            if attempt.outcome is Outcome.MAYBE_SENT:
                self.unclear_until = began + attempt.settles_after
            if self.attempts < self.policy.max_attempts or self.unclear_until is not None:
                self._log_retry(attempt)
                if not self._wait() and self.unclear_until is None:
                    raise self._give_up()

    _last_lookup_ok = False

    def _look_up(self) -> Mapping[str, Any] | None:
        self.lookups += 1
        try:
            found = self.backend.lookup(self.email.reference, since=self.started_at, email=self.email)
        except APIError:
            self._last_lookup_ok = False
            return None
        self._last_lookup_ok = True
        if found is not None:
            logger.info(
                "Notify had stored email with ref %s after an unclear attempt; not resending",
                self.email.reference,
                extra={"ref": self.email.reference, "email_address": self.email.to_hash},
            )
        return found

    def _time_left(self) -> float:
        return self.policy.deadline - (self.clock() - self.started)

    def _wait(self) -> bool:
        """Back off before the next step; False when the deadline leaves no time."""
        delay = backoff_delay(self.attempts + self.lookups, self.policy)
        if delay > self._time_left():
            return False
        self.backend._sleep(delay)
        return True

    def _log_retry(self, attempt: Attempt) -> None:
        logger.warning(
            "Notify send attempt %s for ref %s failed (%s)%s",
            self.attempts,
            self.email.reference,
            attempt.status_code or attempt.error_class,
            "; looking it up before any resend" if attempt.outcome is Outcome.MAYBE_SENT else "; retrying",
            extra={"ref": self.email.reference, "email_address": self.email.to_hash},
        )

    def _give_up(self) -> EmailError:
        last = self.last
        assert last is not None  # the loop gives up only after an attempt
        if last.outcome is Outcome.RATE_LIMITED and last.error is not None:
            return last.error
        if self.unclear_until is not None:
            return self._outcome_unknown()
        reached = last.status_code is not None or last.outcome is Outcome.MAYBE_SENT
        what = "did not accept the email" if reached else "could not be reached"
        return EmailUnavailableError(
            f"Notify {what} after {self.attempts} attempts (reference "
            f"{self.email.reference}, last failure {last.status_code or last.error_class}); "
            "nothing was sent. Check DM_NOTIFY_BASE_URL and try again later.",
            status_code=last.status_code,
            notify_errors=last.error.notify_errors if last.error else (),
            reference=self.email.reference,
        )

    def _outcome_unknown(self) -> EmailError:
        last = self.last
        assert last is not None
        return EmailOutcomeUnknownError(
            f"Notify did not answer clearly after {self.attempts} attempts (reference "
            f"{self.email.reference}, last failure {last.status_code or last.error_class}), and "
            "it could not yet be confirmed whether the email was stored. It was not sent "
            "again, because a delayed request may still arrive. Retry in a few minutes with "
            "the same reference and allow_resend=False: the reference is looked up first, so "
            "it is not sent twice.",
            status_code=last.status_code,
            notify_errors=last.error.notify_errors if last.error else (),
            reference=self.email.reference,
        )
