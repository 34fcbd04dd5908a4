"""Formats shared by every part of the package that validates input.

Every pattern here is matched against the whole string (``fullmatch``): ``$`` would let
a final newline through, so a UUID with a trailing ``\\n`` would pass.
"""

from __future__ import annotations

import re

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(UUID_PATTERN)
_NOTIFY_KEY = re.compile(rf".+-({UUID_PATTERN})-{UUID_PATTERN}", re.DOTALL)


def is_uuid(value: object) -> bool:
    """True if ``value`` is a string that is exactly a UUID (any case)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def is_notify_key(value: object) -> bool:
    """True if ``value`` has the shape of a Notify API key:
    ``{key name}-{service id}-{secret}``."""
    return isinstance(value, str) and _NOTIFY_KEY.fullmatch(value) is not None
