"""Stage-aware settings: validate what :mod:`~flask_dm_email.config_sources` read, apply
the rules of :mod:`~flask_dm_email.stages`, and build one :class:`Settings`.

Reading order for every key: ``app.config``, else the process environment, else (on the
``development`` stage only) a ``.env`` file, else the default. This module re-exports the
stage and reading names it used to define, so existing imports keep working.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError

from .addresses import fold_domain, is_valid_email_address, read_address
from .config_keys import (
    DEFAULT_CALLBACK_PREFIX,
    DEFAULT_NOTIFY_BASE_URL,
    DM_EMAIL_BACKEND,
    DM_ENVIRONMENT,
    DM_NOTIFY_ALLOWED_RECIPIENTS,
    DM_NOTIFY_BASE_URL,
    DM_NOTIFY_CALLBACK_PREFIX,
    DM_NOTIFY_CALLBACK_TOKEN,
    DM_NOTIFY_KEY,
    DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS,
    DM_NOTIFY_TEMPLATES,
)
from .config_sources import RawSettings, read_raw_settings
from .errors import EmailConfigError
from .formats import is_uuid
from .outbox_settings import OutboxSettings, build_outbox_settings
from .pacing_settings import PacingSettings, build_pacing_settings
from .recipients import normalise_allow_list
from .retry import RetryPolicy
from .settings_schema import FIXES, SettingsSchema
from .stages import (
    LIVE_STAGES,
    STAGE_ALIASES,
    STAGE_NAMES,
    STAGE_RULES,
    Stage,
    StageRule,
    default_stage,
    resolve_stage,
)

__all__ = [
    "LIVE_STAGES",
    "STAGE_ALIASES",
    "STAGE_RULES",
    "RawSettings",
    "RetryPolicy",
    "Settings",
    "Stage",
    "StageRule",
    "check_stage_rules",
    "load_settings",
    "read_raw_settings",
]

_MIN_CALLBACK_TOKEN_LENGTH = 10  # Notify refuses shorter bearer tokens


@dataclass(frozen=True)
class Settings:
    """The validated, effective settings of one app. Built once, at ``init_app``."""

    stage: Stage
    backend: str
    notify_key: str | None = field(default=None, repr=False)
    notify_base_url: str = DEFAULT_NOTIFY_BASE_URL
    templates: Mapping[str, str] = field(default_factory=dict)
    redirects: Mapping[str, str] | None = field(default=None, repr=False)
    allowed_recipients: frozenset[str] | None = field(default=None, repr=False)
    callback_tokens: tuple[str, ...] = field(default=(), repr=False)
    callback_prefix: str = DEFAULT_CALLBACK_PREFIX
    callbacks_enabled: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    pacing: PacingSettings = field(default_factory=PacingSettings)
    #: The operations blueprint at /_dm_email/ (status page, event feed, metrics).
    status_page: bool = False
    #: Denied requests to it get 404 instead of 403.
    status_page_hidden: bool = False
    sources: Mapping[str, str] = field(default_factory=dict, repr=False)
    dotenv_path: str | None = None


# --- validating -----------------------------------------------------------------------


def _schema_problems(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    messages = error.messages if isinstance(error.messages, dict) else {}
    for key, value in sorted(messages.items()):
        texts = value if isinstance(value, list) else [str(value)]
        text = " ".join(str(t) for t in texts)
        fix = FIXES.get(key)
        problems.append((key, f"{text} {fix}" if fix else text))
    return problems


def _parse_stage(value: Any, problems: list[tuple[str, str]], testing: bool) -> Stage:
    if value is None:
        return default_stage(testing)
    stage = resolve_stage(value)
    if stage is None:
        problems.append((DM_ENVIRONMENT, f"must be one of {STAGE_NAMES}."))
        return Stage.DEVELOPMENT
    return stage


def _check_templates(templates: Mapping[str, str], problems: list[tuple[str, str]]) -> None:
    for name, template_id in templates.items():
        if not is_uuid(template_id):
            problems.append(
                (
                    DM_NOTIFY_TEMPLATES,
                    f"template {name!r} does not map to a Notify template id (a UUID). Copy "
                    "the id from the template's page in Notify.",
                )
            )


def _normalise_redirects(
    redirects: Mapping[str, str], problems: list[tuple[str, str]]
) -> dict[str, str]:
    """Fold each domain to the ASCII form addresses are compared in. Messages show no
    key or address from the map: a mistaken key may be somebody's address."""
    result: dict[str, str] = {}
    for domain, address in redirects.items():
        folded = fold_domain(domain)
        if folded is None:
            looks_like_address = "@" in domain.strip().lstrip("@")
            problems.append(
                (
                    DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS,
                    "one key is an email address, not a domain. Use the part after the @, "
                    "e.g. example.com=success@simulator.amazonses.com. (The key is not shown.)"
                    if looks_like_address
                    else "one key is not a domain name Notify would accept (or has Unicode "
                    "characters mail systems read differently). Use the plain domain, e.g. "
                    "example.com, or its xn-- form. (The key is not shown.)",
                )
            )
        elif not is_valid_email_address(address):
            problems.append(
                (
                    DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS,
                    f"the safe address for {folded} is not a valid email address. Use an "
                    "address that Notify accepts, e.g. success@simulator.amazonses.com.",
                )
            )
        elif result.get(folded, address.strip()) != address.strip():
            problems.append(
                (
                    DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS,
                    f"two keys are spellings of the domain {folded} with different safe "
                    "addresses. Keep one.",
                )
            )
        else:
            result[folded] = address.strip()
    return result


def _check_allow_list(entries: tuple[str, ...], problems: list[tuple[str, str]]) -> None:
    for entry in entries:
        if entry.strip().startswith("@"):
            if fold_domain(entry) is None:
                problems.append(
                    (
                        DM_NOTIFY_ALLOWED_RECIPIENTS,
                        "one @domain entry is not a domain name Notify would accept. Use "
                        "e.g. @example.gov.uk. (The entry is not shown.)",
                    )
                )
        elif not is_valid_email_address(entry) or read_address(entry).ambiguous:
            problems.append(
                (
                    DM_NOTIFY_ALLOWED_RECIPIENTS,
                    "one entry is neither a valid email address nor an @domain entry. "
                    "Use e.g. name@example.gov.uk or @example.gov.uk. (The entry is not shown.)",
                )
            )


def check_stage_rules(settings: Settings) -> list[tuple[str, str]]:
    """The stage table as code: return every violation as ``(key, message)``."""
    problems: list[tuple[str, str]] = []
    stage = settings.stage
    rule = STAGE_RULES[stage]
    if stage.is_live and settings.backend != rule.default_backend:
        problems.append(
            (
                DM_EMAIL_BACKEND,
                f"is {settings.backend!r} on {stage.value}, which would drop every email "
                f"without sending it. Remove DM_EMAIL_BACKEND (it defaults to "
                f"{rule.default_backend} there).",
            )
        )
    if (rule.requires_key or settings.backend == "notify") and not settings.notify_key:
        where = (
            f"is required on {stage.value}"
            if rule.requires_key
            else "is required when DM_EMAIL_BACKEND is notify"
        )
        problems.append(
            (
                DM_NOTIFY_KEY,
                f"{where}. Create a key in Notify ('API integration > API keys'; a test key "
                "for development) and set DM_NOTIFY_KEY in the environment.",
            )
        )
    if stage.is_live and not _safe_base_url(settings.notify_base_url):
        problems.append(
            (
                DM_NOTIFY_BASE_URL,
                f"must use https on {stage.value}: over plain http the API key's tokens and "
                "every address would cross the network unencrypted. Use "
                "https://api.notifications.service.gov.uk (http is allowed only for a "
                "loopback host such as 127.0.0.1).",
            )
        )
    if rule.requires_redirect_map and settings.redirects is None:
        problems.append(
            (
                DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS,
                f"is required on {stage.value}, so test domains never reach Notify as real "
                "recipients. Set it, e.g. "
                "'example.com=success@simulator.amazonses.com', or to {} to redirect nothing.",
            )
        )
    if rule.refuses_allow_list and settings.allowed_recipients is not None:
        problems.append(
            (
                DM_NOTIFY_ALLOWED_RECIPIENTS,
                f"is refused on {stage.value}, where it would stop real users getting their "
                "email. Remove it from production config.",
            )
        )
    if rule.requires_callback_token and settings.callbacks_enabled and not settings.callback_tokens:
        problems.append(
            (
                DM_NOTIFY_CALLBACK_TOKEN,
                f"is required on {stage.value} while the callback blueprint is mounted. Set it "
                "to the bearer token entered in Notify's callback settings, or set "
                "DM_NOTIFY_CALLBACKS_ENABLED=false in an app that does not take callbacks.",
            )
        )
    return problems


def load_settings(
    app_config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    testing: bool = False,
) -> Settings:
    """Read and validate every key, or raise :class:`EmailConfigError` listing every
    problem (each names its key and the fix, and none shows a secret or an address).
    """
    environ = os.environ if environ is None else environ
    raw, problems, dotenv_path = read_raw_settings(app_config, environ, testing=testing)
    try:
        data: dict[str, Any] = SettingsSchema().load(raw.values)
    except ValidationError as error:
        problems.extend(_schema_problems(error))
        valid = error.valid_data if isinstance(error.valid_data, dict) else {}
        data = dict(valid)
    stage = _parse_stage(data.get("environment"), problems, testing)

    templates = data.get("templates") or {}
    _check_templates(templates, problems)
    redirects = data.get("redirects")
    if redirects is not None:
        redirects = _normalise_redirects(redirects, problems)
    allow = data.get("allowed_recipients")
    if allow is not None:
        _check_allow_list(allow, problems)
    tokens: tuple[str, ...] = data.get("callback_tokens") or ()
    if any(len(token) < _MIN_CALLBACK_TOKEN_LENGTH for token in tokens):
        problems.append(
            (
                DM_NOTIFY_CALLBACK_TOKEN,
                f"each token must be at least {_MIN_CALLBACK_TOKEN_LENGTH} characters, as "
                "Notify requires. Generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
            )
        )
    prefix = data.get("callback_prefix") or DEFAULT_CALLBACK_PREFIX
    if not prefix.startswith("/") or (prefix.endswith("/") and prefix != "/"):
        problems.append(
            (
                DM_NOTIFY_CALLBACK_PREFIX,
                "must start with / and not end with /, e.g. /callbacks.",
            )
        )

    notify_key = data.get("notify_key")
    backend = data.get("backend")
    if backend is None:
        backend = STAGE_RULES[stage].backend_for(bool(notify_key))
        raw.sources[DM_EMAIL_BACKEND] = f"default for {stage.value}"
    if stage is Stage.TEST and backend != "notify":
        notify_key = None  # the test stage ignores a key unless it sends through Notify

    defaults = RetryPolicy()
    retry = RetryPolicy(
        max_attempts=data.get("max_attempts") or defaults.max_attempts,
        backoff=_or(data.get("backoff"), defaults.backoff),
        max_backoff=_or(data.get("max_backoff"), defaults.max_backoff),
        deadline=_or(data.get("deadline"), defaults.deadline),
        timeout=_or(data.get("timeout"), defaults.timeout),
        in_flight_bound=_or(data.get("in_flight"), defaults.in_flight_bound),
    )
    outbox = build_outbox_settings(data, stage, retry, problems)
    pacing = build_pacing_settings(data, stage, outbox, backend == "notify", problems)
    settings = Settings(
        stage=stage,
        backend=backend,
        notify_key=notify_key,
        notify_base_url=(data.get("notify_base_url") or DEFAULT_NOTIFY_BASE_URL).rstrip("/"),
        templates=templates,
        redirects=redirects,
        allowed_recipients=normalise_allow_list(allow) if allow is not None else None,
        callback_tokens=tokens,
        callback_prefix=prefix,
        callbacks_enabled=_or(data.get("callbacks_enabled"), True),
        retry=retry,
        outbox=outbox,
        pacing=pacing,
        status_page=bool(data.get("status_page")),
        status_page_hidden=bool(data.get("status_page_hidden")),
        sources=dict(raw.sources),
        dotenv_path=dotenv_path,
    )
    problems.extend(check_stage_rules(settings))
    if problems:
        raise EmailConfigError(_dedupe(problems))
    return settings


def _safe_base_url(url: str) -> bool:
    """https, or plain http to this machine (a simulator or a local proxy)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _dedupe(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for problem in problems:
        if problem not in seen:
            seen.append(problem)
    return seen


