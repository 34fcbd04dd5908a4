"""The simulator's records: services, keys, templates and notifications.

Plain dataclasses; every mutation happens under :class:`~.state.SimulatorState`'s
lock, so none of these types lock anything themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .templating import listing_body

KEY_TYPES = ("normal", "team", "test")
TEMPLATE_TYPES = ("email", "sms", "letter")
FINAL_STATUSES = ("delivered", "permanent-failure", "temporary-failure", "technical-failure")

#: Notify still tries keys revoked less than this long ago (and answers "revoked").
REVOKED_KEY_GRACE = timedelta(days=7)


@dataclass
class ApiKey:
    """One API key of a service."""

    id: str
    name: str
    key_type: str
    secret: str
    revoked_at: datetime | None = None

    def full_key(self, service_id: str) -> str:
        """The ``{name}-{service_id}-{secret}`` string a client is configured with."""
        return f"{self.name}-{service_id}-{self.secret}"


@dataclass
class TemplateVersion:
    """The content of one version of a template."""

    version: int
    name: str
    subject: str
    body: str
    created_at: datetime
    updated_at: datetime | None
    created_by: str
    #: A stand-in (see :func:`~.templating.listing_body`): the body lists the personalisation sent.
    lists_personalisation: bool = False

    def body_for(self, personalisation: dict[str, Any]) -> str:
        """The body to fill in for an email with this personalisation."""
        if not self.lists_personalisation:
            return self.body
        return listing_body(self.body, personalisation)


@dataclass
class Template:
    """A template with every version it has had (newest last)."""

    id: str
    type: str
    versions: list[TemplateVersion]
    archived: bool = False
    hidden: bool = False

    @property
    def current(self) -> TemplateVersion:
        """The newest version."""
        return self.versions[-1]

    def version(self, number: int) -> TemplateVersion | None:
        """The given version, or ``None`` if the template never had it."""
        for candidate in self.versions:
            if candidate.version == number:
                return candidate
        return None


@dataclass
class ReplyTo:
    """An email reply-to address of a service."""

    id: str
    email_address: str
    is_default: bool = False
    archived: bool = False


@dataclass
class CallbackConfig:
    """Where Notify POSTs one kind of callback, and the bearer token it sends."""

    url: str
    bearer_token: str


@dataclass
class Service:
    """A Notify service as the simulator knows it."""

    id: str
    name: str
    restricted: bool
    active: bool
    email_sender_local_part: str
    rate_limit: int
    email_message_limit: int
    permissions: list[str]
    api_keys: list[ApiKey] = field(default_factory=list)
    team_members: list[str] = field(default_factory=list)
    guest_list: list[str] = field(default_factory=list)
    reply_to: list[ReplyTo] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)
    callbacks: dict[str, CallbackConfig] = field(default_factory=dict)
    contact_link: str | None = None

    def usable_keys(self, now: datetime) -> list[ApiKey]:
        """Keys Notify tries when authenticating: live ones and recently revoked ones."""
        return [
            key
            for key in self.api_keys
            if key.revoked_at is None or now - key.revoked_at < REVOKED_KEY_GRACE
        ]

    def allowed_recipients(self) -> set[str]:
        """Team members and guest list, normalised as Notify compares them."""
        return {address.strip().lower() for address in self.team_members + self.guest_list}

    def default_reply_to(self) -> ReplyTo | None:
        """The default reply-to address, if the service has one."""
        live = [reply_to for reply_to in self.reply_to if not reply_to.archived]
        for reply_to in live:
            if reply_to.is_default:
                return reply_to
        return live[0] if live else None


@dataclass
class Complaint:
    """A complaint recorded against a notification."""

    id: str
    created_at: datetime


@dataclass
class Notification:
    """A stored (non-smoke-test) email notification."""

    id: str
    service_id: str
    template_id: str
    template_version: int
    template_name: str
    key_type: str
    api_key_id: str
    to: str
    personalisation: dict[str, Any]
    reference: str | None
    subject: str
    body: str
    from_email: str
    reply_to: str | None
    one_click_unsubscribe_url: str | None
    created_at: datetime
    outcome: str
    complain: bool = False
    status: str = "created"
    sent_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[tuple[str, datetime]] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    @property
    def completed_at(self) -> datetime | None:
        """Notify reports ``updated_at`` as ``completed_at`` only for final statuses."""
        if self.status in FINAL_STATUSES:
            return self.updated_at
        return None

    def set_status(self, status: str, when: datetime) -> None:
        """Move to ``status`` and remember the step for the inbox."""
        self.status = status
        self.updated_at = when
        self.history.append((status, when))


@dataclass
class Document:
    """A file sent with send-a-file, kept so the inbox can offer it."""

    id: str
    service_id: str
    content: bytes
    filename: str | None
    confirm_email_before_download: bool
    retention_period: str
