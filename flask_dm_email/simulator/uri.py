"""RFC 3986 URI syntax, as Notify's JSON schema checks ``format: uri``.

Notify's jsonschema validates ``uri`` with the ``rfc3987`` package's ``URI``
rule: ASCII only (an IRI such as ``https://example.com/ü`` is refused), percent
escapes must be two hex digits, and only the characters RFC 3986 allows may
appear in each part. This is an independent implementation of that grammar.
"""

from __future__ import annotations

import ipaddress
import re

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*"
_IP_LITERAL = r"\[(?P<literal>[^\[\]/?#@]*)\]"
_AUTHORITY = rf"(?:{_USERINFO}@)?(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?"
_PATH_ABEMPTY = rf"(?:/{_SEGMENT})*"
_HIER_PART = (
    rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}"
    rf"|/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
    rf"|{_SEGMENT_NZ}(?:/{_SEGMENT})*"
    r"|)"
)
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+\-.]*:{_HIER_PART}(?:\?{_QUERY})?(?:#{_QUERY})?")
_IPV_FUTURE = re.compile(rf"[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+")


def _valid_ip_literal(literal: str) -> bool:
    if _IPV_FUTURE.fullmatch(literal):
        return True
    if "%" in literal:
        return False  # zone ids (RFC 6874) are not part of RFC 3986
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


def is_uri(value: str) -> bool:
    """True if ``value`` is an absolute URI by RFC 3986's grammar."""
    # rfc3987 anchors its pattern with "$", which also matches before a final newline.
    match = _URI.fullmatch(value[:-1] if value.endswith("\n") else value)
    if match is None:
        return False
    literal = match.group("literal")
    return literal is None or _valid_ip_literal(literal)


def is_https_url(value: object) -> bool:
    """Notify's ``https_url``: a string, a valid URI, and starting with ``https``."""
    return isinstance(value, str) and value.startswith("https") and is_uri(value)
