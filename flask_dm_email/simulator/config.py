"""Load and validate the simulator's config file (JSON or TOML) or dict.

Every error names the field at fault, e.g. ``services[0].api_keys[1].type``, and
never echoes a secret.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from . import defaults
from .addresses import is_valid_email_address
from .models import (
    KEY_TYPES,
    TEMPLATE_TYPES,
    ApiKey,
    CallbackConfig,
    ReplyTo,
    Service,
    Template,
    TemplateVersion,
)
from .timeutil import utcnow

T = TypeVar("T")

CALLBACK_KINDS = ("delivery_status", "complaint")

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | None


class SimulatorConfigError(ValueError):
    """The simulator's config is invalid; the message names the field and the fix."""


@dataclass
class SimulatorConfig:
    """The validated config: services plus simulator-wide settings."""

    services: list[Service]
    faults: dict[str, Any] = field(default_factory=dict)
    delivery_delay: float = defaults.DEFAULT_DELIVERY_DELAY
    callback_retry_delay: float = defaults.DEFAULT_CALLBACK_RETRY_DELAY
    bouncing_addresses: list[str] = field(default_factory=list)
    bouncing_domains: list[str] = field(default_factory=list)
    email_domain: str = defaults.DEFAULT_EMAIL_DOMAIN


class _Fields:
    """Typed access to one mapping of the config, naming fields in errors."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, Mapping):
            raise SimulatorConfigError(f"{where or 'config'}: must be an object")
        self.raw: Mapping[str, Any] = raw
        self.where = where

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type[T] | tuple[type, ...], default: Any) -> Any:
        if key not in self.raw or self.raw[key] is None:
            return default
        value = self.raw[key]
        # bool is an int subclass; a stray true must not pass as a number.
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise SimulatorConfigError(f"{self.name(key)}: must be {_kind_name(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise SimulatorConfigError(f"{self.name(key)}: must be {_kind_name(kinds)}")
        return value

    def require(self, key: str, kind: type[T] | tuple[type, ...]) -> Any:
        if key not in self.raw or self.raw[key] is None:
            raise SimulatorConfigError(f"{self.name(key)}: is required")
        return self.get(key, kind, None)

    def uuid(self, key: str, default: str | None = None) -> str:
        value = self.get(key, str, default)
        if value is None:
            return str(uuid.uuid4())
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise SimulatorConfigError(f"{self.name(key)}: must be a UUID string") from None

    def emails(self, key: str) -> list[str]:
        values = self.get(key, list, [])
        for index, value in enumerate(values):
            if not isinstance(value, str) or not is_valid_email_address(value):
                raise SimulatorConfigError(f"{self.name(key)}[{index}]: must be an email address")
        return list(values)


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "an object"}
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def load_config(source: ConfigSource) -> SimulatorConfig:
    """Read ``source`` (a path to JSON/TOML, a mapping, or ``None`` for zero config)."""
    if source is None:
        return SimulatorConfig(services=[zero_config_service()])
    if isinstance(source, Mapping):
        return parse_config(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SimulatorConfigError(f"config file {path}: cannot be read ({error.strerror})") from None
    try:
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise SimulatorConfigError(f"config file {path}: is not valid {path.suffix or 'JSON'} ({error})") from None
    return parse_config(raw)


def parse_config(raw: object) -> SimulatorConfig:
    """Validate a whole config mapping."""
    fields = _Fields(raw, "")
    services_raw = fields.get("services", list, None)
    if services_raw is None:
        services = [zero_config_service()]
    else:
        services = [parse_service(item, f"services[{index}]") for index, item in enumerate(services_raw)]
    ids = [service.id for service in services]
    if len(set(ids)) != len(ids):
        raise SimulatorConfigError("services: two services have the same id")
    domains = fields.get("bouncing_domains", list, [])
    if not all(isinstance(domain, str) for domain in domains):
        raise SimulatorConfigError("bouncing_domains: must be a list of domain names")
    return SimulatorConfig(
        services=services,
        faults=dict(fields.get("faults", dict, {})),
        delivery_delay=_non_negative(fields, "delivery_delay", defaults.DEFAULT_DELIVERY_DELAY),
        callback_retry_delay=_non_negative(
            fields, "callback_retry_delay", defaults.DEFAULT_CALLBACK_RETRY_DELAY
        ),
        bouncing_addresses=[address.lower() for address in fields.emails("bouncing_addresses")],
        bouncing_domains=[domain.lower().lstrip("@") for domain in domains],
        email_domain=fields.get("email_domain", str, defaults.DEFAULT_EMAIL_DOMAIN),
    )


def _non_negative(fields: _Fields, key: str, default: float) -> float:
    value = float(fields.get(key, (int, float), default))
    if value < 0:
        raise SimulatorConfigError(f"{fields.name(key)}: must not be negative")
    return value


def _local_part_from_name(name: str) -> str:
    # Notify derives the sender local part from the service name this way.
    return re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".") or "service"


def parse_service(raw: object, where: str = "service") -> Service:
    """Validate one service mapping."""
    fields = _Fields(raw, where)
    name = fields.require("name", str)
    restricted = fields.get("restricted", bool, False)
    default_limit = defaults.DEFAULT_TRIAL_EMAIL_LIMIT if restricted else defaults.DEFAULT_LIVE_EMAIL_LIMIT
    rate_limit = fields.get("rate_limit", int, defaults.DEFAULT_RATE_LIMIT)
    if rate_limit < 1:
        raise SimulatorConfigError(f"{fields.name('rate_limit')}: must be at least 1")
    permissions = fields.get("permissions", list, ["email"])
    if not all(isinstance(item, str) for item in permissions):
        raise SimulatorConfigError(f"{fields.name('permissions')}: must be a list of strings")
    service = Service(
        id=fields.uuid("id"),
        name=name,
        restricted=restricted,
        active=fields.get("active", bool, True),
        email_sender_local_part=fields.get("email_sender_local_part", str, _local_part_from_name(name)),
        rate_limit=rate_limit,
        email_message_limit=fields.get("email_message_limit", int, default_limit),
        permissions=list(permissions),
        team_members=fields.emails("team_members"),
        guest_list=fields.emails("guest_list"),
        contact_link=fields.get("contact_link", str, None),
    )
    for index, item in enumerate(fields.get("api_keys", list, [])):
        service.api_keys.append(parse_api_key(item, f"{where}.api_keys[{index}]"))
    for index, item in enumerate(fields.get("reply_to", list, [])):
        service.reply_to.append(_parse_reply_to(item, f"{where}.reply_to[{index}]"))
    for index, item in enumerate(fields.get("templates", list, [])):
        template = parse_template(item, f"{where}.templates[{index}]")
        service.templates[template.id] = template
    callbacks = _Fields(fields.get("callbacks", dict, {}), fields.name("callbacks"))
    for kind in callbacks.raw:
        if kind not in CALLBACK_KINDS:
            raise SimulatorConfigError(f"{callbacks.name(kind)}: unknown callback; use delivery_status or complaint")
        service.callbacks[kind] = parse_callback(callbacks.raw[kind], callbacks.name(kind))
    return service


def parse_api_key(raw: object, where: str = "api_key") -> ApiKey:
    """Validate one API key mapping; ``secret`` defaults to a fresh UUID."""
    fields = _Fields(raw, where)
    key_type = fields.get("type", str, "test")
    if key_type not in KEY_TYPES:
        raise SimulatorConfigError(f"{fields.name('type')}: must be one of normal, team, test")
    revoked_at = None
    revoked_raw = fields.get("revoked_at", str, None)
    if revoked_raw is not None:
        try:
            revoked_at = datetime.fromisoformat(revoked_raw.replace("Z", "+00:00"))
        except ValueError:
            raise SimulatorConfigError(f"{fields.name('revoked_at')}: must be an ISO 8601 time") from None
        if revoked_at.tzinfo is None:
            raise SimulatorConfigError(f"{fields.name('revoked_at')}: must include a time zone, e.g. Z")
    elif fields.get("revoked", bool, False):
        revoked_at = utcnow()
    return ApiKey(
        id=fields.uuid("id"),
        name=fields.get("name", str, f"simulator-{key_type}"),
        key_type=key_type,
        secret=fields.uuid("secret"),
        revoked_at=revoked_at,
    )


def parse_template(raw: object, where: str = "template", *, version: int | None = None) -> Template:
    """Validate one template mapping."""
    fields = _Fields(raw, where)
    template_type = fields.get("type", str, "email")
    if template_type not in TEMPLATE_TYPES:
        raise SimulatorConfigError(f"{fields.name('type')}: must be one of email, sms, letter")
    number = version if version is not None else fields.get("version", int, 1)
    if number < 1:
        raise SimulatorConfigError(f"{fields.name('version')}: must be at least 1")
    subject = fields.get("subject", str, None)
    if subject is None and template_type == "email":
        raise SimulatorConfigError(f"{fields.name('subject')}: is required for an email template")
    content = TemplateVersion(
        version=number,
        name=fields.require("name", str),
        subject=subject or "",
        body=fields.require("body", str),
        created_at=utcnow(),
        updated_at=None,
        created_by=fields.get("created_by", str, defaults.DEFAULT_TEMPLATE_CREATOR),
        lists_personalisation=fields.get("lists_personalisation", bool, False),
    )
    return Template(
        id=fields.uuid("id"),
        type=template_type,
        versions=[content],
        archived=fields.get("archived", bool, False),
        hidden=fields.get("hidden", bool, False),
    )


def add_templates(config: SimulatorConfig, templates: Sequence[Mapping[str, Any]]) -> None:
    """Give the first service each of ``templates`` whose id it does not have yet.

    ``flask dm-email simulator`` passes the app's ``DM_NOTIFY_TEMPLATES`` this way, as stand-ins.
    """
    if not templates:
        return
    if not config.services:
        raise SimulatorConfigError("templates: the config has no service to add them to")
    service = config.services[0]
    for index, raw in enumerate(templates):
        template = parse_template(raw, f"templates[{index}]")
        service.templates.setdefault(template.id, template)


def parse_callback(raw: object, where: str) -> CallbackConfig:
    """Validate one callback mapping (``url`` and ``bearer_token``)."""
    fields = _Fields(raw, where)
    url = fields.require("url", str)
    if not url.startswith(("http://", "https://")):
        raise SimulatorConfigError(f"{fields.name('url')}: must be an http:// or https:// URL")
    token = fields.require("bearer_token", str)
    # Notify's admin refuses tokens under 10 characters; so does the simulator.
    if len(token) < 10:
        raise SimulatorConfigError(f"{fields.name('bearer_token')}: must be at least 10 characters")
    return CallbackConfig(url=url, bearer_token=token)


def _parse_reply_to(raw: object, where: str) -> ReplyTo:
    fields = _Fields(raw, where)
    address = fields.require("email_address", str)
    if not is_valid_email_address(address):
        raise SimulatorConfigError(f"{fields.name('email_address')}: must be an email address")
    return ReplyTo(
        id=fields.uuid("id"),
        email_address=address,
        is_default=fields.get("is_default", bool, False),
        archived=fields.get("archived", bool, False),
    )


def zero_config_service() -> Service:
    """The documented "Local development" service with one fixed key of each type."""
    service = Service(
        id=defaults.ZERO_CONFIG_SERVICE_ID,
        name=defaults.ZERO_CONFIG_SERVICE_NAME,
        restricted=False,
        active=True,
        email_sender_local_part="local.development",
        rate_limit=defaults.DEFAULT_RATE_LIMIT,
        email_message_limit=defaults.DEFAULT_LIVE_EMAIL_LIMIT,
        permissions=["email"],
        team_members=[defaults.ZERO_CONFIG_TEAM_MEMBER],
    )
    for key_type, secret in defaults.ZERO_CONFIG_SECRETS.items():
        service.api_keys.append(
            ApiKey(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"zero-config-{key_type}")),
                name=defaults.ZERO_CONFIG_KEY_NAMES[key_type],
                key_type=key_type,
                secret=secret,
            )
        )
    return service
