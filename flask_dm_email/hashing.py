"""Hashing: addresses in logs, and the default reference of a send."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any


def hash_string(s: str) -> str:
    """Return URL-safe base64 of the SHA-256 of ``s`` (UTF-8).

    This is the value Digital Marketplace's ``dmutils.email.helpers.hash_string``
    produces, so hashed addresses in logs stay searchable across the migration.
    """
    # surrogatepass: a lone surrogate (hostile input) hashes instead of raising; every
    # valid string hashes exactly as before.
    digest = hashlib.sha256(s.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def make_reference(
    email_address: str, template_id: str, personalisation: Mapping[str, Any] | None
) -> str:
    """The default reference of a send: the value ``dmutils`` ``get_reference`` gives.

    Computed from the address the caller asked for, before any redirect, so the same
    email to the same person has the same reference on every stage.
    """
    values = ",".join(map(str, personalisation.values())) if personalisation else ""
    return hash_string("|".join([email_address, template_id, values]))

