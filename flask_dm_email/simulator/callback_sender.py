"""Delivery-status and complaint callbacks, sent with Notify's retry policy.

Payload key order and encoding matter: Notify sends ``json.dumps(data)`` with
default separators and no key sorting, so receivers may see exactly these bytes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from .defaults import CALLBACK_MAX_RETRIES, CALLBACK_TIMEOUT
from .models import CallbackConfig, Complaint, Notification
from .scheduler import Scheduler
from .timeutil import format_time, utcnow

logger = logging.getLogger(__name__)

#: Final statuses Notify sends delivery-status callbacks for (not technical-failure).
CALLBACK_STATUSES = ("delivered", "permanent-failure", "temporary-failure")


def delivery_status_payload(notification: Notification) -> dict[str, Any]:
    """The delivery receipt, keys in Notify's order."""
    return {
        "id": notification.id,
        "reference": notification.reference,
        "to": notification.to,
        "status": notification.status,
        "created_at": format_time(notification.created_at),
        "completed_at": format_time(notification.updated_at),
        "sent_at": format_time(notification.sent_at),
        "notification_type": "email",
        "template_id": notification.template_id,
        "template_version": notification.template_version,
    }


def complaint_payload(notification: Notification, complaint: Complaint) -> dict[str, Any]:
    """The complaint callback, keys in Notify's order."""
    return {
        "notification_id": notification.id,
        "complaint_id": complaint.id,
        "reference": notification.reference,
        "to": notification.to,
        "complaint_date": format_time(complaint.created_at),
    }


def encode_payload(payload: dict[str, Any]) -> str:
    """Encode as Notify does: ``json.dumps`` defaults (``", "``/``": "``, ASCII, unsorted)."""
    return json.dumps(payload)


def is_retryable(status_code: int) -> bool:
    """Notify retries 5xx and 429; other 4xx are final."""
    return status_code >= 500 or status_code == 429


@dataclass
class _Job:
    kind: str
    notification_id: str
    url: str
    token: str
    body: str
    attempt: int = 1


class CallbackSender:
    """Sends callbacks on worker threads and records every attempt."""

    def __init__(self, retry_delay: float, should_drop: Callable[[], bool], workers: int = 4) -> None:
        self.retry_delay = retry_delay
        self.should_drop = should_drop
        self.scheduler = Scheduler("notify-simulator-callbacks", workers)
        self._attempts: list[dict[str, Any]] = []
        self._condition = threading.Condition()

    def start(self) -> None:
        """Start the worker threads."""
        self.scheduler.start()

    def stop(self) -> None:
        """Stop the workers; queued callbacks and retries are dropped."""
        self.scheduler.stop()

    def submit(self, kind: str, config: CallbackConfig, payload: dict[str, Any], notification_id: str) -> None:
        """Queue a callback; it is sent in the background, never on the request thread."""
        job = _Job(kind, notification_id, config.url, config.bearer_token, encode_payload(payload))
        if self.should_drop():
            self._record(job, None, "dropped by the drop_callbacks fault", "dropped")
            return
        self.scheduler.call_later(0, lambda: self._send(job))

    def _send(self, job: _Job) -> None:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {job.token}"}
        try:
            response = requests.post(job.url, data=job.body, headers=headers, timeout=CALLBACK_TIMEOUT)
        except (requests.RequestException, ValueError) as error:
            # ValueError covers URLs and tokens requests cannot encode; they are retried like
            # any other failure to connect, and recorded, instead of killing the worker.
            self._finish(job, None, type(error).__name__, retry=True)
            return
        self._finish(job, response.status_code, None, retry=is_retryable(response.status_code),
                     failed=response.status_code >= 400)

    def _finish(self, job: _Job, status_code: int | None, error: str | None, *, retry: bool,
                failed: bool = True) -> None:
        if not failed:
            self._record(job, status_code, error, "ok")
        elif retry and job.attempt <= CALLBACK_MAX_RETRIES:
            self._record(job, status_code, error, "retry")
            job.attempt += 1
            self.scheduler.call_later(self.retry_delay, lambda: self._send(job))
        else:
            result = "gave_up" if retry else "rejected"
            self._record(job, status_code, error, result)
            # Log the kind and notification only: never the URL's token or the recipient.
            logger.warning("Notify simulator: %s callback for %s %s after attempt %d",
                           job.kind, job.notification_id, result, job.attempt)

    def _record(self, job: _Job, status_code: int | None, error: str | None, result: str) -> None:
        attempt = {
            "kind": job.kind,
            "notification_id": job.notification_id,
            "url": job.url,
            "attempt": job.attempt,
            "status_code": status_code,
            "error": error,
            "result": result,
            "payload": job.body,
            "at": format_time(utcnow()),
        }
        with self._condition:
            self._attempts.append(attempt)
            self._condition.notify_all()

    def attempts(self, **filters: Any) -> list[dict[str, Any]]:
        """Recorded attempts, oldest first, whose fields equal every filter."""
        with self._condition:
            return [dict(item) for item in self._attempts if _matches(item, filters)]

    def wait_for(self, count: int, timeout: float, **filters: Any) -> list[dict[str, Any]]:
        """Wait until ``count`` matching attempts exist; raise ``TimeoutError`` if they don't."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = [dict(item) for item in self._attempts if _matches(item, filters)]
                remaining = deadline - time.monotonic()
                if len(found) >= count:
                    return found
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} callback attempt(s) matching {filters}, saw {len(found)}")
                self._condition.wait(remaining)

    def clear(self) -> None:
        """Forget recorded attempts and drop queued ones."""
        self.scheduler.clear()
        with self._condition:
            self._attempts.clear()


def _matches(item: dict[str, Any], filters: dict[str, Any]) -> bool:
    return all(item.get(key) == value for key, value in filters.items())
