"""What ``flask dm-email simulator`` prints once it listens: where it is, what it serves,
where receipts go, and the exact ``.env`` lines that point the app at it."""

from __future__ import annotations

from typing import Any

from .config import Settings
from .local_simulator import usable_key


def _templates_line(service: dict[str, Any], settings: Settings) -> str:
    names = sorted(settings.templates)
    if not names:
        return (
            "  Templates: none (the app's DM_NOTIFY_TEMPLATES is empty); add one with "
            f"POST /_simulator/services/{service['id']}/templates"
        )
    return (
        f"  Templates: {', '.join(names)} (from DM_NOTIFY_TEMPLATES: stand-ins whose body lists the "
        f"personalisation each email is sent with; give them your text with "
        f"POST /_simulator/services/{service['id']}/templates)"
    )


def simulator_banner(
    url: str,
    services: list[dict[str, Any]],
    settings: Settings,
    callback_url: str | None,
    new_token: str | None,
) -> list[str]:
    """The start-up lines. The key printed is the simulator's own (it works nowhere else);
    the app's key and token are never printed."""
    lines = [f"Notify simulator on {url} (inbox: {url}/_simulator/inbox)"]
    if services:
        service = services[0]
        lines.append(f"  Service: {service['name']!r} ({service['id']})")
        lines.append(_templates_line(service, settings))
    if callback_url:
        lines.append(f"  Delivery receipts go to {callback_url}")
    elif not settings.callbacks_enabled:
        lines.append("  No receipts are sent: the app has DM_NOTIFY_CALLBACKS_ENABLED=false")
    key = usable_key(services)
    keys = {str(k["key"]) for service in services for k in service.get("api_keys", [])}
    already = settings.notify_base_url.rstrip("/") == url and settings.notify_key in keys
    env = [f"DM_NOTIFY_BASE_URL={url}", f"DM_NOTIFY_KEY={key}"] if key and not already else []
    if new_token:
        env.append(f"DM_NOTIFY_CALLBACK_TOKEN={new_token}")
    if already:
        lines.append("The app already sends through this simulator (its DM_NOTIFY_BASE_URL and DM_NOTIFY_KEY).")
    if env:
        lines += ["", "To send through this simulator, put these lines in the app's .env and restart the app."]
        if not already and key:
            lines.append("DM_NOTIFY_KEY is a key of this local simulator, not of GOV.UK Notify: no secret, "
                         "it works nowhere else.")
        if new_token:
            lines.append("The app has no DM_NOTIFY_CALLBACK_TOKEN, so the simulator sends receipts with a new "
                         "one: set it, and the app requires it.")
        lines += ["", *env, ""]
    lines.append("Press CTRL+C to stop the simulator.")
    return lines
