"""A local stand-in for GOV.UK Notify's email API, with an inbox and fault knobs.

It imports nothing from the rest of ``flask_dm_email``: it plays Notify, so it
must not share validation or schemas with the client side it tests.
"""

from __future__ import annotations

from .app import create_app
from .config import SimulatorConfig, SimulatorConfigError, load_config
from .defaults import ZERO_CONFIG_KEYS, ZERO_CONFIG_SERVICE_ID
from .server import SimulatorServer, serve
from .state import SimulatorState

__all__ = [
    "ZERO_CONFIG_KEYS",
    "ZERO_CONFIG_SERVICE_ID",
    "SimulatorConfig",
    "SimulatorConfigError",
    "SimulatorServer",
    "SimulatorState",
    "create_app",
    "load_config",
    "serve",
]
