"""The simulator's whole mutable state, behind one lock.

Request threads, the delivery scheduler and the callback workers all touch it,
so every read and write of services, notifications and faults happens while
holding :attr:`SimulatorState.lock`.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import current_app

from .callback_sender import CALLBACK_STATUSES, CallbackSender, complaint_payload, delivery_status_payload
from .config import SimulatorConfig, SimulatorConfigError, parse_api_key, parse_service, parse_template
from .delivery import decide_outcome
from .email_html import render_html_body
from .faults import LIMITER_KNOBS, Faults, check_knobs
from .limits import Clock, DailyCounter, RateLimiter
from .models import KEY_TYPES, CallbackConfig, Complaint, Document, Notification, Service, Template
from .scheduler import Scheduler
from .stats import Stats
from .timeutil import utcnow
from .views import message_matches, message_view, service_view

EXTENSION_KEY = "notify_simulator"


def current_state() -> SimulatorState:
    """The state of the simulator app handling the current request."""
    state: SimulatorState = current_app.extensions[EXTENSION_KEY]
    return state


class SimulatorState:
    """Services, notifications, limits, faults and background workers of one simulator."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        delivery_delay: float | None = None,
        callback_retry_delay: float | None = None,
        default_callbacks: Mapping[str, CallbackConfig] | None = None,
        rate_clock: Clock = time.monotonic,
    ) -> None:
        self.lock = threading.RLock()
        self._initial = copy.deepcopy(config)
        self.email_domain = config.email_domain
        self.bouncing_addresses = list(config.bouncing_addresses)
        self.bouncing_domains = list(config.bouncing_domains)
        self.delivery_delay = config.delivery_delay if delivery_delay is None else delivery_delay
        retry_delay = config.callback_retry_delay if callback_retry_delay is None else callback_retry_delay
        self.default_callbacks = dict(default_callbacks or {})
        self.services: dict[str, Service] = {}
        self.notifications: dict[str, Notification] = {}
        self.documents: dict[str, Document] = {}
        self.faults = Faults()
        self.stats = Stats()
        self.limiter = RateLimiter(rate_clock)
        self.daily = DailyCounter()
        self.delivery = Scheduler("notify-simulator-delivery")
        self.callbacks = CallbackSender(retry_delay, self._should_drop_callback)
        # Set on stop, so hanging requests wake up instead of outliving the server.
        self.stopping = threading.Event()
        self._load(self._initial)

    # -- lifecycle -------------------------------------------------------------

    def _load(self, config: SimulatorConfig) -> None:
        config = copy.deepcopy(config)
        self.services = {}
        for service in config.services:
            self._apply_default_callbacks(service)
            self.services[service.id] = service
        self.faults = Faults()
        self.set_faults(config.faults)

    def start(self) -> None:
        """Start the background workers."""
        self.stopping.clear()
        self.delivery.start()
        self.callbacks.start()

    def stop(self) -> None:
        """Stop the background workers and wake hanging requests."""
        self.stopping.set()
        self.delivery.stop()
        self.callbacks.stop()

    def reset(self) -> None:
        """Back to the initial config: forget messages, callbacks, limits and faults."""
        with self.lock:
            self.delivery.clear()
            self.callbacks.clear()
            self.notifications.clear()
            self.documents.clear()
            self.limiter.reset()
            self.daily.reset()
            self.stats = Stats()
            self._load(self._initial)

    def _should_drop_callback(self) -> bool:
        with self.lock:
            return self.faults.drop_callback()

    # -- faults ----------------------------------------------------------------------

    def set_faults(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and merge fault knobs (all or nothing); return the current ones.

        ``bucket_tokens`` is an action on the rate limiter, not a setting: it sets
        every bucket now, and clearing the faults does not undo it.
        """
        checked = check_knobs(dict(changes))
        with self.lock:
            self.faults.merge({name: value for name, value in checked.items() if name not in LIMITER_KNOBS})
            if "bucket_tokens" in checked:
                self.limiter.set_all_tokens(checked["bucket_tokens"])
            return self.faults_view()

    def clear_faults(self) -> dict[str, Any]:
        """Turn every fault knob off (``bucket_tokens`` stays as set); return the current ones."""
        with self.lock:
            self.faults = Faults()
            return self.faults_view()

    def faults_view(self) -> dict[str, Any]:
        """The fault knobs as JSON, with the last ``bucket_tokens`` (or null)."""
        with self.lock:
            return {**self.faults.as_dict(), "bucket_tokens": self.limiter.preset_tokens}

    # -- services, keys, templates ------------------------------------------------

    def service(self, service_id: str | None = None) -> Service:
        """The service with that id, or the first service when ``service_id`` is None."""
        with self.lock:
            if service_id is None:
                if not self.services:
                    raise LookupError("the simulator has no services; add one first")
                return next(iter(self.services.values()))
            try:
                return self.services[str(uuid.UUID(str(service_id)))]
            except (KeyError, ValueError):
                raise LookupError(f"no service with id {service_id}") from None

    def service_view(self, service_id: str | None = None) -> dict[str, Any]:
        """A service as the admin API shows it (full key strings included)."""
        with self.lock:
            return service_view(self.service(service_id))

    def services_view(self) -> list[dict[str, Any]]:
        """Every service as the admin API shows it."""
        with self.lock:
            return [service_view(service) for service in self.services.values()]

    def stats_view(self) -> dict[str, int]:
        """The counters of :class:`~.stats.Stats` as JSON."""
        with self.lock:
            return self.stats.as_dict()

    def _apply_default_callbacks(self, service: Service) -> None:
        if not service.callbacks:
            service.callbacks.update(copy.deepcopy(self.default_callbacks))

    def add_service(self, raw: Mapping[str, Any]) -> Service:
        """Add a service from a config-style mapping."""
        service = parse_service(raw)
        with self.lock:
            if service.id in self.services:
                raise SimulatorConfigError(f"service.id: a service with id {service.id} already exists")
            self._apply_default_callbacks(service)
            self.services[service.id] = service
        return service

    def create_api_key(
        self, service_id: str | None = None, key_type: str = "test", name: str | None = None,
        secret: str | None = None,
    ) -> str:
        """Add a key and return its full ``{name}-{service_id}-{secret}`` string."""
        if key_type not in KEY_TYPES:
            raise SimulatorConfigError("api_key.type: must be one of normal, team, test")
        raw = {"type": key_type, "name": name or f"simulator-{key_type}", "secret": secret}
        key = parse_api_key(raw)
        with self.lock:
            service = self.service(service_id)
            service.api_keys.append(key)
            return key.full_key(service.id)

    def revoke_api_key(self, key: str, service_id: str | None = None) -> None:
        """Revoke a key given by its full string, secret, id or name."""
        with self.lock:
            service = self.service(service_id)
            for candidate in service.api_keys:
                if key in (candidate.full_key(service.id), candidate.secret, candidate.id, candidate.name):
                    candidate.revoked_at = utcnow()
                    return
        raise LookupError("no such API key in that service")

    def upsert_template(self, raw: Mapping[str, Any], service_id: str | None = None) -> Template:
        """Add a template, or add a new version to the one with the same id."""
        with self.lock:
            service = self.service(service_id)
            existing = service.templates.get(str(raw.get("id"))) if raw.get("id") else None
            if existing is None:
                template = parse_template(raw)
                service.templates[template.id] = template
                return template
            # A stand-in stays one until it is given a body of its own.
            merged = {"name": existing.current.name, "subject": existing.current.subject,
                      "body": existing.current.body, "type": existing.type,
                      "lists_personalisation": existing.current.lists_personalisation and "body" not in raw, **raw}
            update = parse_template(merged, version=existing.current.version + 1)
            content = update.versions[0]
            content.created_at = existing.versions[0].created_at
            content.updated_at = utcnow()
            existing.versions.append(content)
            existing.archived = update.archived
            existing.hidden = update.hidden
            return existing

    def set_callback(self, kind: str, config: CallbackConfig | None, service_id: str | None = None) -> None:
        """Set (or with ``None`` remove) one kind of callback of a service."""
        with self.lock:
            service = self.service(service_id)
            if config is None:
                service.callbacks.pop(kind, None)
            else:
                service.callbacks[kind] = config

    # -- notifications ------------------------------------------------------------

    def new_notification_outcome(self, to: str, key_type: str) -> tuple[str, bool]:
        """Final status and complaint flag for a new notification."""
        return decide_outcome(to, key_type, self.bouncing_addresses, self.bouncing_domains)

    def store(self, notification: Notification) -> None:
        """Keep a notification and start its delivery (caller holds the lock)."""
        notification.history.append((notification.status, notification.created_at))
        self.notifications[notification.id] = notification
        self.stats.notifications += 1
        if notification.key_type != "test":
            self.daily.increment(notification.service_id)
        self.delivery.call_later(self.delivery_delay, lambda: self._advance(notification.id))

    def _advance(self, notification_id: str) -> None:
        with self.lock:
            notification = self.notifications.get(notification_id)
            if notification is None:
                return  # reset while in flight
            now = utcnow()
            if notification.status == "created":
                notification.sent_at = now
                notification.set_status("sending", now)
                self.delivery.call_later(self.delivery_delay, lambda: self._advance(notification_id))
                return
            if notification.status != "sending":
                return
            notification.set_status(notification.outcome, now)
            service = self.services.get(notification.service_id)
            callback = service.callbacks.get("delivery_status") if service else None
            if callback is not None and notification.status in CALLBACK_STATUSES:
                self.callbacks.submit("delivery_status", callback, delivery_status_payload(notification),
                                      notification.id)
            if notification.complain:
                self.trigger_complaint(notification.id)

    def trigger_complaint(self, notification_id: str) -> Complaint:
        """Record a complaint (status unchanged) and send the complaint callback."""
        with self.lock:
            notification = self.notifications.get(notification_id)
            if notification is None:
                raise LookupError(f"no notification with id {notification_id}")
            complaint = Complaint(id=str(uuid.uuid4()), created_at=utcnow())
            notification.complaints.append(complaint)
            service = self.services.get(notification.service_id)
            callback = service.callbacks.get("complaint") if service else None
            if callback is not None:
                self.callbacks.submit("complaint", callback, complaint_payload(notification, complaint),
                                      notification.id)
            return complaint

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Inbox views of stored notifications, newest first, filtered by exact field values.

        ``to`` is compared case-insensitively; other filters (``reference``,
        ``status``, ``template_id``, ``service_id``, ``key_type``) exactly.
        """
        with self.lock:
            found = []
            for notification in reversed(self.notifications.values()):
                view = message_view(notification, self.services.get(notification.service_id))
                if message_matches(view, filters):
                    found.append(view)
            return found

    def message_page(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """``limit`` inbox views from ``offset`` (newest first), and how many are stored."""
        with self.lock:
            newest_first = list(reversed(self.notifications.values()))
            page = newest_first[offset:offset + limit]
            return [message_view(item, self.services.get(item.service_id)) for item in page], len(newest_first)

    def message_html(self, notification_id: str) -> str | None:
        """The HTML body Notify would send for a stored notification (rendered on demand: big bodies are slow)."""
        with self.lock:
            notification = self.notifications.get(notification_id)
            if notification is None:
                return None
            service = self.services.get(notification.service_id)
            template = service.templates.get(notification.template_id) if service else None
            content = template.version(notification.template_version) if template else None
            if content is None:
                return None
            personalisation = dict(notification.personalisation)
            body = content.body_for(personalisation)
        return render_html_body(body, personalisation)

    def message(self, notification_id: str) -> dict[str, Any] | None:
        """The inbox view of one notification, or ``None``."""
        with self.lock:
            notification = self.notifications.get(notification_id)
            if notification is None:
                return None
            return message_view(notification, self.services.get(notification.service_id))
