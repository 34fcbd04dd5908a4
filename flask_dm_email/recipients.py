"""Recipient policy: pure functions, no Flask and no network.

Given the address a caller asked for and the stage's policy, decide the address the
email really goes to and why. Every decision compares the domain the email would really
reach (see :mod:`flask_dm_email.addresses`), never the text typed, so Unicode spellings
of a redirected domain are redirected too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .addresses import (
    fold_domain,
    is_valid_email_address,
    read_address,
    strip_address,
    validate_email_address,
)
from .errors import RecipientNotAllowedError
from .hashing import hash_string

__all__ = [
    "RecipientDecision",
    "RecipientPolicy",
    "domain_of",
    "is_allowed",
    "is_valid_email_address",
    "normalise_allow_list",
    "resolve_recipient",
    "strip_address",
    "validate_email_address",
]


def domain_of(address: str) -> str:
    """The ASCII domain ``address`` is delivered to, lowercased (the part after the
    rightmost ``@``, read as Notify reads it)."""
    return read_address(address).domain


def _fold_allow_entry(entry: str) -> str:
    entry = strip_address(entry)
    if entry.startswith("@"):
        return f"@{fold_domain(entry) or entry[1:].lower()}"
    return read_address(entry).key


def normalise_allow_list(entries: Iterable[str]) -> frozenset[str]:
    """Allow-list entries in the form addresses are compared in: exact addresses, or
    ``@domain`` for a whole domain; lowercased, domains in their ASCII form."""
    return frozenset(_fold_allow_entry(entry) for entry in entries if entry.strip())


def is_allowed(address: str, allowed: frozenset[str]) -> bool:
    """True if every domain ``address`` may reach is on the allow-list, exactly or by its
    ``@domain``."""
    read = read_address(address)
    if not read.readings:
        return False
    return all(
        f"{read.local}@{domain}" in allowed or f"@{domain}" in allowed for domain in read.readings
    )


def _fold_redirects(redirects: Mapping[str, str]) -> dict[str, str]:
    return {fold_domain(domain) or domain.strip().lower(): safe for domain, safe in redirects.items()}


@dataclass(frozen=True)
class RecipientPolicy:
    """What a stage allows.

    :param redirects: ``{domain: safe address}``; keys are folded to the ASCII form
        addresses are compared in, whatever form they were given in.
    :param allowed: the allow-list (see :func:`normalise_allow_list`), or ``None`` when
        every address is allowed.
    :param stage: the stage name, for messages; on every stage but ``production`` an
        address whose domain is ambiguous is refused.
    """

    redirects: Mapping[str, str] = field(default_factory=dict)
    allowed: frozenset[str] | None = None
    stage: str = "development"

    def __post_init__(self) -> None:
        object.__setattr__(self, "redirects", _fold_redirects(self.redirects))


@dataclass(frozen=True)
class RecipientDecision:
    """Where an email goes.

    ``address`` is the final recipient; ``redirected`` says whether it differs from the
    address asked for and ``reason`` says why (no address appears in ``reason``).
    """

    address: str = field(repr=False)
    redirected: bool
    reason: str | None


def resolve_recipient(address: str, policy: RecipientPolicy) -> RecipientDecision:
    """Apply the redirect map, then the allow-list, to a validated address.

    An address is redirected when any domain it may reach is in the map. Redirect
    targets are chosen in config as safe, so they are allowed without being listed.
    Raises :class:`RecipientNotAllowedError` before any network call.
    """
    read = read_address(address)
    for domain in (read.domain, *sorted(read.readings - {read.domain})):
        safe_address = policy.redirects.get(domain)
        if safe_address is not None:
            return RecipientDecision(
                address=safe_address,
                redirected=True,
                reason=f"domain {domain} is in DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS",
            )
    if read.ambiguous and policy.stage != "production":
        raise RecipientNotAllowedError(
            f"The recipient's domain (address hash {hash_string(address)}) is written with "
            "Unicode characters that mail systems may read as different domains, so the "
            f"{policy.stage} stage cannot tell whether DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS "
            "or DM_NOTIFY_ALLOWED_RECIPIENTS applies to it, and refuses it. Use the "
            "domain's plain ASCII (xn--) form."
        )
    if policy.allowed is not None and not is_allowed(address, policy.allowed):
        raise RecipientNotAllowedError(
            f"The recipient (address hash {hash_string(address)}) is not in "
            f"DM_NOTIFY_ALLOWED_RECIPIENTS, so it may not be emailed on the {policy.stage} "
            "stage. Add the address or its @domain to DM_NOTIFY_ALLOWED_RECIPIENTS, or send "
            "to a domain listed in DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS."
        )
    return RecipientDecision(address=address, redirected=False, reason=None)
