"""Renamed to :mod:`flask_dm_email.receipt_schemas`; this module re-exports it so
existing imports keep working."""

from .receipt_schemas import *  # noqa: F403
from .receipt_schemas import __all__  # noqa: F401
