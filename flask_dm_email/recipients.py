"""Recipient policy: pure functions, no Flask and no network.

Given the address a caller asked for and the stage's policy, decide the address the
email really goes to and why. Addresses are validated with the rules GOV.UK Notify
applies (``notifications_utils.recipient_validation.email_address``), so a bad address
fails here, before any network call, instead of as a 400 from Notify.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import EmailInvalidError, RecipientNotAllowedError
from .helpers import hash_string

# Notify removes zero-width characters anywhere in an address, then strips whitespace
# (including the full-width kinds) from both ends, before it validates.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u180e\u200b\u200c\u200d\u2060\ufeff"))
_EDGE_WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u202f"
_LOCAL_AND_HOST = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+@([^.@][^@\s]+)$")
_HOST_LABEL = re.compile(r"^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$", re.IGNORECASE)
_TLD = re.compile(r"^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$", re.IGNORECASE)
_MAX_ADDRESS_LENGTH = 320
_MAX_HOSTNAME_LENGTH = 253


def strip_address(address: str) -> str:
    """Strip whitespace, including the invisible kinds Notify strips."""
    return address.translate(_ZERO_WIDTH).strip(_EDGE_WHITESPACE)


def is_valid_email_address(address: str) -> bool:
    """True if Notify would accept ``address`` (after stripping whitespace)."""
    address = strip_address(address)
    match = _LOCAL_AND_HOST.match(address)
    if not match or len(address) > _MAX_ADDRESS_LENGTH or ".." in address:
        return False
    hostname = match.group(1)
    try:
        hostname = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = hostname.split(".")
    if len(hostname) > _MAX_HOSTNAME_LENGTH or len(labels) < 2:
        return False
    if not all(0 < len(label) <= 63 and _HOST_LABEL.match(label) for label in labels):
        return False
    return bool(_TLD.match(labels[-1]))


def validate_email_address(address: object, *, field_name: str = "to") -> str:
    """Return the stripped address, or raise :class:`EmailInvalidError`.

    The message names the field and never repeats the address (it may be personal data).
    """
    if not isinstance(address, str):
        raise EmailInvalidError(
            f"{field_name} must be an email address string, not {type(address).__name__}."
        )
    stripped = strip_address(address)
    if not is_valid_email_address(stripped):
        raise EmailInvalidError(
            f"{field_name} is not a valid email address (address hash "
            f"{hash_string(stripped)}): GOV.UK Notify would refuse it. Check it for typos, "
            "spaces inside it, a missing domain or a domain without a dot."
        )
    return stripped


def domain_of(address: str) -> str:
    """The domain of ``address``: the part after the rightmost ``@``, lowercased."""
    return address.rpartition("@")[2].lower()


def normalise_allow_list(entries: Iterable[str]) -> frozenset[str]:
    """Lowercase allow-list entries: exact addresses, or ``@domain`` for a whole domain."""
    return frozenset(entry.strip().lower() for entry in entries if entry.strip())


def is_allowed(address: str, allowed: frozenset[str]) -> bool:
    """True if ``address`` is on the allow-list, exactly or by its ``@domain``."""
    lowered = address.lower()
    return lowered in allowed or f"@{domain_of(lowered)}" in allowed


@dataclass(frozen=True)
class RecipientPolicy:
    """What a stage allows.

    :param redirects: ``{domain: safe address}``; domains lowercased.
    :param allowed: the allow-list, or ``None`` when every address is allowed.
    :param stage: the stage name, for messages.
    """

    redirects: Mapping[str, str] = field(default_factory=dict)
    allowed: frozenset[str] | None = None
    stage: str = "development"


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

    Redirect targets are chosen in config as safe, so they are allowed without being
    listed. Raises :class:`RecipientNotAllowedError` before any network call.
    """
    domain = domain_of(address)
    safe_address = policy.redirects.get(domain)
    if safe_address is not None:
        return RecipientDecision(
            address=safe_address,
            redirected=True,
            reason=f"domain {domain} is in DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS",
        )
    if policy.allowed is not None and not is_allowed(address, policy.allowed):
        raise RecipientNotAllowedError(
            f"The recipient (address hash {hash_string(address)}) is not in "
            f"DM_NOTIFY_ALLOWED_RECIPIENTS, so it may not be emailed on the {policy.stage} "
            "stage. Add the address or its @domain to DM_NOTIFY_ALLOWED_RECIPIENTS, or send "
            "to a domain listed in DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS."
        )
    return RecipientDecision(address=address, redirected=False, reason=None)
