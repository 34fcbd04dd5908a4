"""Renamed to :mod:`flask_dm_email.callback_blueprint`; this module re-exports it so
existing imports keep working."""

from .callback_blueprint import *  # noqa: F403
from .callback_blueprint import __all__  # noqa: F401
