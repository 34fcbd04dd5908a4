"""Small pure helpers, kept under their original names: :func:`hash_string` and
:func:`make_reference` live in :mod:`flask_dm_email.hashing`, :func:`key_name` in
:mod:`flask_dm_email.api_keys`."""

from .api_keys import key_name
from .hashing import hash_string, make_reference

__all__ = ["hash_string", "key_name", "make_reference"]
