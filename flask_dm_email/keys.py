"""Renamed to :mod:`flask_dm_email.config_keys`; this module re-exports it so existing
imports keep working."""

from .config_keys import *  # noqa: F403
from .config_keys import __all__  # noqa: F401
