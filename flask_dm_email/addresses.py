"""Email addresses as GOV.UK Notify reads them: pure functions, no Flask and no network.

Two questions are answered here, both the way Notify answers them
(``notifications_utils.recipient_validation.email_address`` and
``notifications_utils.formatters``):

* is this an address Notify accepts? (:func:`is_valid_email_address`)
* which domain will the email really go to? (:func:`read_address`)

The second matters for safety. Notify validates the hostname through Python's IDNA 2003
codec, which folds many Unicode spellings onto one ASCII domain: full-width letters,
mathematical letters, ``。`` and other full stops, soft hyphens, variation selectors and
combining joiners all disappear or become their plain form. So ``user@ｅｘａｍｐｌｅ.com``
is accepted, stored and delivered to ``example.com``. The redirect map and the allow-list
must therefore compare the folded domain, never the text the caller typed. Where IDNA 2003
and the IDNA 2008/UTS #46 reading that newer mail systems use disagree (``ß`` becomes
``ss`` in one and stays ``ß`` in the other), nobody can say for certain where the email
would go: such an address is *ambiguous*, and non-production stages refuse it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from functools import lru_cache

import idna

from .errors import EmailInvalidError
from .hashing import hash_string

# notifications-utils removes these from anywhere in an address (OBSCURE_ZERO_WIDTH_WHITESPACE
# and OBSCURE_FULL_WIDTH_WHITESPACE), then strips string.whitespace from both ends.
_NOTIFY_REMOVES = dict.fromkeys(
    map(ord, "\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u00a0\u202f")
)
_LOCAL_AND_HOST = re.compile(r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+@([^.@][^@\s]+)")
_HOST_LABEL = re.compile(r"(xn|[a-z0-9]+)(-?-[a-z0-9]+)*", re.IGNORECASE)
_TLD = re.compile(r"([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)", re.IGNORECASE)
_MAX_ADDRESS_LENGTH = 320
_MAX_HOSTNAME_LENGTH = 253


def strip_address(address: str) -> str:
    """Remove what Notify removes: zero-width and no-break spaces anywhere, and ordinary
    whitespace at either end."""
    if address.isascii():  # what Notify removes is never ASCII (and translate is slow)
        return address.strip(string.whitespace)
    return address.translate(_NOTIFY_REMOVES).strip(string.whitespace)


# Pure functions of a domain, which repeats from address to address (a bulk send of
# 50,000 reads a few hundred domains): cached, keyed by the domain exactly as written.
# The part before the @ is checked for every address.
@lru_cache(maxsize=4096)
def notify_domain(hostname: str) -> str | None:
    """The ASCII domain Notify reads ``hostname`` as (its IDNA 2003 codec), lowercased;
    ``None`` if Notify cannot read it."""
    try:
        return hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


@lru_cache(maxsize=4096)
def domain_readings(hostname: str) -> tuple[str | None, frozenset[str], bool]:
    """Every ASCII domain ``hostname`` may be delivered to.

    Returns ``(Notify's reading, every reading, ambiguous)``. Plain ASCII has one reading
    (lowercased). Anything else is read as IDNA 2003 (Notify) and as UTS #46 (IDNA 2008,
    used by newer mail systems); it is ambiguous when they differ or either fails.
    """
    notify = notify_domain(hostname)
    if hostname.isascii():
        readings = frozenset({notify}) if notify else frozenset()
        return notify, readings, False
    try:
        modern: str | None = idna.encode(hostname, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        modern = None
    readings = frozenset(r for r in (notify, modern) if r)
    return notify, readings, notify is None or modern is None or notify != modern


@lru_cache(maxsize=4096)
def _valid_hostname(hostname: str) -> bool:
    """True if Notify accepts ``hostname`` (the part after the ``@``, as written): its
    IDNA 2003 reading, label by label, and the top-level domain."""
    ascii_hostname = notify_domain(hostname)
    if ascii_hostname is None:
        return False
    labels = ascii_hostname.split(".")
    if len(ascii_hostname) > _MAX_HOSTNAME_LENGTH or len(labels) < 2:
        return False
    if not all(0 < len(label) <= 63 and _HOST_LABEL.fullmatch(label) for label in labels):
        return False
    return bool(_TLD.fullmatch(labels[-1]))


def is_valid_email_address(address: str) -> bool:
    """True if Notify would accept ``address`` (after stripping whitespace)."""
    address = strip_address(address)
    match = _LOCAL_AND_HOST.fullmatch(address)
    if not match or len(address) > _MAX_ADDRESS_LENGTH or ".." in address:
        return False
    return _valid_hostname(match.group(1))


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


@dataclass(frozen=True)
class ReadAddress:
    """An address as it will be delivered.

    ``local`` is the part before the rightmost ``@``, lowercased; ``domain`` the ASCII
    domain Notify reads (empty if it cannot); ``readings`` every domain the email might
    reach; ``ambiguous`` whether those differ.
    """

    local: str = field(repr=False)
    domain: str
    readings: frozenset[str]
    ambiguous: bool

    @property
    def key(self) -> str:
        """The form allow-list entries are compared in: ``local@domain``, lowercased."""
        return f"{self.local}@{self.domain}"


def read_address(address: str) -> ReadAddress:
    """Split ``address`` at its rightmost ``@`` and read its domain as Notify would."""
    local, _, hostname = strip_address(address).rpartition("@")
    notify, readings, ambiguous = domain_readings(hostname)
    return ReadAddress(
        local=local.lower(), domain=notify or hostname.lower(), readings=readings, ambiguous=ambiguous
    )


def fold_domain(text: str) -> str | None:
    """A configured domain (``example.com``, ``@EXAMPLE.com``, ``bücher.example``) in the
    ASCII form addresses are compared in; ``None`` if it is not an unambiguous domain."""
    candidate = strip_address(text).removeprefix("@")
    if not candidate or "@" in candidate or not is_valid_email_address(f"x@{candidate}"):
        return None
    notify, _, ambiguous = domain_readings(candidate)
    return None if ambiguous else notify
