"""Notify API keys: the parts that may be shown, and the service a key belongs to.

A key is ``{key name}-{service id}-{secret}``, where the service id and the secret are
36-character UUIDs (notifications-python-client reads them as ``key[-73:-37]`` and
``key[-36:]``). Only the name is ever shown.
"""

from __future__ import annotations

_ID_AND_SECRET = 74  # "-{service id}-{secret}"


def key_name(api_key: str | None) -> str:
    """The part of a Notify API key that may be shown: its name, never the secret."""
    if not api_key:
        return "(none)"
    name = api_key[:-_ID_AND_SECRET] if len(api_key) > _ID_AND_SECRET else ""
    return f"{name}-<redacted>" if name else "<redacted>"


def service_id(api_key: str) -> str:
    """The Notify service id inside ``api_key`` (not a secret: Notify shows it on every
    page of the service)."""
    return api_key[-73:-37].lower()
