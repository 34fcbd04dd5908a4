"""The JSON the admin API and the inbox show for notifications and services.

Plain functions of the records; the caller holds the simulator's lock.
"""

from __future__ import annotations

from typing import Any

from .models import Notification, Service
from .timeutil import format_time


def message_matches(view: dict[str, Any], filters: dict[str, Any]) -> bool:
    """True if an inbox view has every filter's value (``None`` filters are ignored)."""
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
        # Local only, like the full key strings above: an app sharing this simulator needs the
        # token its receipts come with.
        "callbacks": {kind: {"url": config.url, "bearer_token": config.bearer_token}
                      for kind, config in service.callbacks.items()},
    }

