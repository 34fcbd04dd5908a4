"""The marshmallow schema that parses and type-checks every setting.

Values may come from ``app.config`` (Python objects) or from the environment (strings),
so each field accepts both. Messages name no value: a value may be a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .config_keys import (
    DM_EMAIL_ABANDON_AFTER,
    DM_EMAIL_BACKEND,
    DM_EMAIL_EMBEDDED_WORKER,
    DM_EMAIL_EVENT_RETENTION_DAYS,
    DM_EMAIL_LEASE_SECONDS,
    DM_EMAIL_LIMITER_URL,
    DM_EMAIL_OUTBOX_URL,
    DM_EMAIL_RETENTION_DAYS,
    DM_EMAIL_RETRY_SCHEDULE,
    DM_EMAIL_STATUS_PAGE,
    DM_EMAIL_STATUS_PAGE_HIDDEN,
    DM_ENVIRONMENT,
    DM_NOTIFY_ALLOWED_RECIPIENTS,
    DM_NOTIFY_BASE_URL,
    DM_NOTIFY_CALLBACK_PREFIX,
    DM_NOTIFY_CALLBACK_TOKEN,
    DM_NOTIFY_CALLBACKS_ENABLED,
    DM_NOTIFY_DAILY_LIMIT,
    DM_NOTIFY_IN_FLIGHT_SECONDS,
    DM_NOTIFY_KEY,
    DM_NOTIFY_MAX_ATTEMPTS,
    DM_NOTIFY_RATE_BURST,
    DM_NOTIFY_RATE_LIMIT,
    DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS,
    DM_NOTIFY_RETRY_BACKOFF,
    DM_NOTIFY_RETRY_DEADLINE,
    DM_NOTIFY_RETRY_MAX_BACKOFF,
    DM_NOTIFY_TEMPLATES,
    DM_NOTIFY_TIMEOUT,
)
from .formats import is_notify_key
from .schema_fields import NonBlankString

BACKENDS = ("notify", "log", "memory")
_TRUTHY = {True, "true", "True", "TRUE", "1", "yes", "on"}
_FALSY = {False, "false", "False", "FALSE", "0", "no", "off"}


class _NotifyKey(fields.Field):  # type: ignore[type-arg]
    """A Notify API key: ``{key name}-{service id}-{secret}``. Never echoed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not is_notify_key(value.strip()):
            raise ValidationError(
                "is not a GOV.UK Notify API key. Copy the whole key from Notify's "
                "'API integration > API keys' page: it has the form "
                "{key name}-{service id}-{secret}. (The value is not shown.)"
            )
        return value.strip()


class _Mapping(fields.Field):  # type: ignore[type-arg]
    """A dict, a JSON object string, or ``name=value,name=value``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, Mapping):
            items = dict(value)
        elif isinstance(value, str):
            items = _parse_mapping_string(value)
        else:
            raise ValidationError(
                "must be a dict, a JSON object string or 'name=value,name=value'."
            )
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in items.items()):
            raise ValidationError("must map strings to strings.")
        return {k.strip(): v.strip() for k, v in items.items()}


def _parse_mapping_string(value: str) -> dict[str, Any]:
    text = value.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValidationError("is not valid JSON; check its quotes and commas.") from None
        if not isinstance(parsed, dict):
            raise ValidationError("must be a JSON object.")
        return parsed
    items: dict[str, Any] = {}
    for pair in text.split(","):
        name, sep, val = pair.partition("=")
        if not sep or not name.strip() or not val.strip():
            raise ValidationError(
                "must be a JSON object or 'name=value,name=value'; one entry has no "
                "'name=value' form."
            )
        items[name.strip()] = val.strip()
    return items


class _StringList(fields.Field):  # type: ignore[type-arg]
    """A list of strings, a JSON array string, or a comma-separated string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValidationError("is not a valid JSON array.") from None
            else:
                value = [part for part in text.split(",")]
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ValidationError("must be a list or a comma-separated string.")
        if not all(isinstance(item, str) for item in value):
            raise ValidationError("must contain only strings.")
        return tuple(item.strip() for item in value if item.strip())



class _Schedule(fields.Field):  # type: ignore[type-arg]
    """Seconds to wait before each retry: a list of numbers or ``5,10,60``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        try:
            delays = tuple(float(item) for item in items)
        except (TypeError, ValueError):
            raise ValidationError("must be a list of seconds, e.g. 5,10,60,120.") from None
        if not delays or not all(0 <= d <= 86400 for d in delays):
            raise ValidationError("must be one or more delays of 0 to 86400 seconds, e.g. 5,10,60,120.")
        return delays


def _seconds(key: str, low: float, high: float) -> fields.Float:
    """An optional number of seconds between ``low`` and ``high``."""
    return fields.Float(
        data_key=key,
        allow_none=True,
        validate=validate.Range(min=low, max=high, error=f"must be between {low} and {high} seconds."),
    )


class SettingsSchema(Schema):
    """Types and formats of every key. Stage rules are checked afterwards."""

    class Meta:
        unknown = EXCLUDE

    environment = fields.String(data_key=DM_ENVIRONMENT, allow_none=True)
    notify_key = _NotifyKey(data_key=DM_NOTIFY_KEY, allow_none=True)
    notify_base_url = fields.Url(
        data_key=DM_NOTIFY_BASE_URL,
        allow_none=True,
        require_tld=False,
        schemes={"http", "https"},
    )
    templates = _Mapping(data_key=DM_NOTIFY_TEMPLATES, allow_none=True)
    redirects = _Mapping(data_key=DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS, allow_none=True)
    allowed_recipients = _StringList(data_key=DM_NOTIFY_ALLOWED_RECIPIENTS, allow_none=True)
    callback_tokens = _StringList(data_key=DM_NOTIFY_CALLBACK_TOKEN, allow_none=True)
    callback_prefix = NonBlankString(
        data_key=DM_NOTIFY_CALLBACK_PREFIX, allow_none=True, blank_error="is empty; remove it or give it a value."
    )
    callbacks_enabled = fields.Boolean(
        data_key=DM_NOTIFY_CALLBACKS_ENABLED, allow_none=True, truthy=_TRUTHY, falsy=_FALSY
    )
    backend = fields.String(
        data_key=DM_EMAIL_BACKEND,
        allow_none=True,
        validate=validate.OneOf(BACKENDS, error="must be one of notify, log, memory."),
    )
    timeout = _seconds(DM_NOTIFY_TIMEOUT, 0.1, 120)
    max_attempts = fields.Integer(
        data_key=DM_NOTIFY_MAX_ATTEMPTS,
        allow_none=True,
        validate=validate.Range(min=1, max=10, error="must be a whole number from 1 to 10."),
    )
    backoff = _seconds(DM_NOTIFY_RETRY_BACKOFF, 0, 60)
    max_backoff = _seconds(DM_NOTIFY_RETRY_MAX_BACKOFF, 0, 300)
    deadline = _seconds(DM_NOTIFY_RETRY_DEADLINE, 0, 3600)
    in_flight = _seconds(DM_NOTIFY_IN_FLIGHT_SECONDS, 1, 600)
    outbox_url = NonBlankString(
        data_key=DM_EMAIL_OUTBOX_URL, allow_none=True, blank_error="is empty; remove it or give it a value."
    )
    retention_days = fields.Float(
        data_key=DM_EMAIL_RETENTION_DAYS,
        allow_none=True,
        validate=validate.Range(min=0, max=3650, error="must be a number of days from 0 to 3650, e.g. 7."),
    )
    event_retention_days = fields.Float(
        data_key=DM_EMAIL_EVENT_RETENTION_DAYS,
        allow_none=True,
        validate=validate.Range(min=0, max=3650, error="must be a number of days from 0 to 3650, e.g. 90."),
    )
    lease_seconds = _seconds(DM_EMAIL_LEASE_SECONDS, 1, 3600)
    abandon_after = _seconds(DM_EMAIL_ABANDON_AFTER, 1, 7 * 86400)
    retry_schedule = _Schedule(data_key=DM_EMAIL_RETRY_SCHEDULE, allow_none=True)
    embedded_worker = fields.Boolean(
        data_key=DM_EMAIL_EMBEDDED_WORKER, allow_none=True, truthy=_TRUTHY, falsy=_FALSY
    )
    # Parsed (and checked) by pacing_settings.parse_rate_setting: "3000/60" or (3000, 60).
    rate_limit = fields.Raw(data_key=DM_NOTIFY_RATE_LIMIT, allow_none=True)
    rate_burst = fields.Integer(
        data_key=DM_NOTIFY_RATE_BURST,
        allow_none=True,
        validate=validate.Range(min=0, error="must be 0 or more."),
    )
    daily_limit = fields.Integer(
        data_key=DM_NOTIFY_DAILY_LIMIT,
        allow_none=True,
        validate=validate.Range(min=1, error="must be 1 or more."),
    )
    status_page = fields.Boolean(data_key=DM_EMAIL_STATUS_PAGE, allow_none=True, truthy=_TRUTHY, falsy=_FALSY)
    status_page_hidden = fields.Boolean(
        data_key=DM_EMAIL_STATUS_PAGE_HIDDEN, allow_none=True, truthy=_TRUTHY, falsy=_FALSY
    )
    limiter_url = NonBlankString(
        data_key=DM_EMAIL_LIMITER_URL, allow_none=True, blank_error="is empty; remove it or give it a value."
    )


# Fixes added to marshmallow's type errors, keyed by config key: each shows a valid value.
FIXES = {
    DM_NOTIFY_BASE_URL: "Use the API root, e.g. https://api.notifications.service.gov.uk "
    "or the simulator's http://127.0.0.1:6011.",
    DM_NOTIFY_TEMPLATES: "Map template names to Notify template ids, e.g. "
    '{"welcome": "<template id>"}.',
    DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS: "Map domains to a safe address, e.g. "
    "example.com=success@simulator.amazonses.com.",
    DM_NOTIFY_CALLBACKS_ENABLED: "Use true or false.",
    DM_EMAIL_EMBEDDED_WORKER: "Use true or false.",
    DM_EMAIL_STATUS_PAGE: "Use true or false.",
    DM_EMAIL_STATUS_PAGE_HIDDEN: "Use true or false.",
    DM_NOTIFY_TIMEOUT: "Use a number of seconds, e.g. DM_NOTIFY_TIMEOUT=10.",
    DM_NOTIFY_MAX_ATTEMPTS: "Use a whole number, e.g. DM_NOTIFY_MAX_ATTEMPTS=3.",
    DM_NOTIFY_RETRY_BACKOFF: "Use a number of seconds, e.g. DM_NOTIFY_RETRY_BACKOFF=0.5.",
    DM_NOTIFY_RETRY_MAX_BACKOFF: "Use a number of seconds, e.g. DM_NOTIFY_RETRY_MAX_BACKOFF=4.",
    DM_NOTIFY_RETRY_DEADLINE: "Use a number of seconds, e.g. DM_NOTIFY_RETRY_DEADLINE=20.",
    DM_NOTIFY_IN_FLIGHT_SECONDS: "Use a number of seconds, e.g. DM_NOTIFY_IN_FLIGHT_SECONDS=75.",
    DM_EMAIL_RETENTION_DAYS: "Use a number of days, e.g. DM_EMAIL_RETENTION_DAYS=7.",
    DM_EMAIL_EVENT_RETENTION_DAYS: "Use a number of days, e.g. DM_EMAIL_EVENT_RETENTION_DAYS=90.",
    DM_EMAIL_LEASE_SECONDS: "Use a number of seconds, e.g. DM_EMAIL_LEASE_SECONDS=120.",
    DM_EMAIL_ABANDON_AFTER: "Use a number of seconds, e.g. DM_EMAIL_ABANDON_AFTER=3600.",
    DM_NOTIFY_RATE_BURST: "Use a whole number, e.g. DM_NOTIFY_RATE_BURST=10.",
    DM_NOTIFY_DAILY_LIMIT: "Use a whole number of emails, e.g. DM_NOTIFY_DAILY_LIMIT=250000.",
    DM_EMAIL_LIMITER_URL: "Use outbox, memory, redis://host:6379/0 or a database URL.",
    DM_EMAIL_OUTBOX_URL: "Use a database URL, e.g. postgresql+psycopg://user@host/db, or sqlalchemy.",
}
