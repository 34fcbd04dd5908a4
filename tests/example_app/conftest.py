"""The example app on its embedded simulator, served over real HTTP on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from example_app import create_app, embedded
from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.testing import serve_app


@dataclass
class LiveExample:
    app: Flask
    url: str
    simulator: SimulatorServer


@pytest.fixture
def example(tmp_path: Any) -> Iterator[LiveExample]:
    app = create_app(
        {
            "DM_ENVIRONMENT": "development",
            "EXAMPLE_SIMULATOR_PORT": 0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}",
            "SECRET_KEY": "test-secret",
        }
    )
    simulator = app.extensions["example_simulator"]
    try:
        with serve_app(app) as url:
            embedded.point_callbacks(
                simulator, f"{url}/callbacks/notify", app.extensions["dm_email"].settings.callback_tokens[0]
            )
            yield LiveExample(app, url, simulator)
    finally:
        simulator.stop()
