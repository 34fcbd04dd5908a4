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

from .callbacks import CALLBACK_STATUSES, CallbackSender, complaint_payload, delivery_status_payload
from .config import SimulatorConfig, SimulatorConfigError, parse_api_key, parse_service, parse_template
from .delivery import decide_outcome
from .faults import Faults
from .limits import Clock, DailyCounter, RateLimiter
from .models import KEY_TYPES, CallbackConfig, Complaint, Document, Notification, Service, Template
from .scheduler import Scheduler
from .timeutil import format_time, utcnow

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
        self.faults.merge(config.faults)

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
            self._load(self._initial)

    def _should_drop_callback(self) -> bool:
        with self.lock:
            return self.faults.drop_callback()

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
            merged = {"name": existing.current.name, "subject": existing.current.subject,
                      "body": existing.current.body, "type": existing.type, **raw}
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
                if _message_matches(view, filters):
                    found.append(view)
            return found

    def message(self, notification_id: str) -> dict[str, Any] | None:
        """The inbox view of one notification, or ``None``."""
        with self.lock:
            notification = self.notifications.get(notification_id)
            if notification is None:
                return None
            return message_view(notification, self.services.get(notification.service_id))


def _message_matches(view: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, wanted in filters.items():
        if wanted is None:
            continue
        if key in ("to", "email_address"):
            if view["to"].lower() != str(wanted).strip().lower():
                return False
        elif key == "template_id":
            if view["template"]["id"] != wanted:
                return False
        elif view.get(key) != wanted:
            return False
    return True


def message_view(notification: Notification, service: Service | None) -> dict[str, Any]:
    """The JSON the inbox API gives for one notification."""
    return {
        "id": notification.id,
        "service_id": notification.service_id,
        "service_name": service.name if service else None,
        "to": notification.to,
        # Same value under Notify's API name, so code written against either finds it.
        "email_address": notification.to,
        "from_email": notification.from_email,
        "reply_to": notification.reply_to,
        "subject": notification.subject,
        "body": notification.body,
        "personalisation": notification.personalisation,
        "reference": notification.reference,
        "key_type": notification.key_type,
        "status": notification.status,
        "status_history": [{"status": status, "at": format_time(when)} for status, when in notification.history],
        "template": {"id": notification.template_id, "name": notification.template_name,
                     "version": notification.template_version},
        "one_click_unsubscribe_url": notification.one_click_unsubscribe_url,
        "created_at": format_time(notification.created_at),
        "sent_at": format_time(notification.sent_at),
        "completed_at": format_time(notification.completed_at),
        "complaints": [{"id": item.id, "created_at": format_time(item.created_at)} for item in notification.complaints],
        "documents": [f"/_simulator/documents/{document_id}" for document_id in notification.documents],
    }


def service_view(service: Service) -> dict[str, Any]:
    """The JSON the admin API gives for a service, including full key strings."""
    return {
        "id": service.id,
        "name": service.name,
        "restricted": service.restricted,
        "active": service.active,
        "email_sender_local_part": service.email_sender_local_part,
        "rate_limit": service.rate_limit,
        "email_message_limit": service.email_message_limit,
        "permissions": list(service.permissions),
        "team_members": list(service.team_members),
        "guest_list": list(service.guest_list),
        "contact_link": service.contact_link,
        "api_keys": [
            {"id": key.id, "name": key.name, "type": key.key_type, "key": key.full_key(service.id),
             "revoked_at": format_time(key.revoked_at)}
            for key in service.api_keys
        ],
        "reply_to": [{"id": item.id, "email_address": item.email_address, "is_default": item.is_default}
                     for item in service.reply_to],
        "templates": [
            {"id": template.id, "name": template.current.name, "type": template.type,
             "version": template.current.version, "archived": template.archived}
            for template in service.templates.values()
        ],
        "callbacks": {kind: {"url": config.url} for kind, config in service.callbacks.items()},
    }

