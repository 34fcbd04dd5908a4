"""Notify's email address rules, implemented independently of the client side.

The simulator must not share validation with ``flask_dm_email`` itself: if both
used one function, a bug in it would pass every test.
"""

from __future__ import annotations

import re

# notifications-utils' strip_and_remove_obscure_whitespace: these go from anywhere in the
# address (zero-width characters, line and paragraph separators, no-break spaces), then
# string.whitespace from both ends. Nothing else: an ideographic space stays, and fails.
_REMOVED_ANYWHERE = "\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u00a0\u202f"
_EDGE_WHITESPACE = " \t\n\r\x0b\x0c"

_ADDRESS = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+@([^.@][^@\s]+)$")
_LABEL = re.compile(r"^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$", re.IGNORECASE)
_TLD = re.compile(r"^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$", re.IGNORECASE)

MAX_ADDRESS_LENGTH = 320
MAX_HOSTNAME_LENGTH = 253

SMOKE_TEST_ADDRESSES = frozenset(
    {
        "simulate-delivered@notifications.service.gov.uk",
        "simulate-delivered-2@notifications.service.gov.uk",
        "simulate-delivered-3@notifications.service.gov.uk",
    }
)


def strip_address(value: str) -> str:
    """Remove the whitespace Notify ignores around (and zero-width characters in) an address."""
    for char in _REMOVED_ANYWHERE:
        value = value.replace(char, "")
    return value.strip(_EDGE_WHITESPACE)


def is_valid_email_address(value: str) -> bool:
    """True if Notify would accept ``value`` (after stripping) as an email address."""
    address = strip_address(value)
    match = _ADDRESS.match(address)
    if match is None or len(address) > MAX_ADDRESS_LENGTH or ".." in address:
        return False
    try:
        hostname = match.group(1).encode("idna").decode("ascii")
    except UnicodeError:
        return False
    if len(hostname) > MAX_HOSTNAME_LENGTH:
        return False
    labels = hostname.split(".")
    if len(labels) < 2:
        return False
    if not all(0 < len(label) <= 63 and _LABEL.match(label) for label in labels):
        return False
    return _TLD.match(labels[-1]) is not None


def format_address(value: str) -> str:
    """The form Notify compares addresses in: stripped and lowercased."""
    return strip_address(value).lower()


def is_smoke_test_address(value: str) -> bool:
    """True for Notify's simulated (never stored, never sent) addresses."""
    return format_address(value) in SMOKE_TEST_ADDRESSES
