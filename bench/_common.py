"""Shared set-up for the benchmarks: a simulator, a key and a template."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask

from flask_dm_email import DMEmail
from flask_dm_email.simulator import SimulatorServer


@dataclass
class Bench:
    simulator: SimulatorServer
    key: str
    template_id: str


def parse_args(description: str, full: int, short: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--short", action="store_true", help="a quick run that only checks the benchmark works")
    parser.add_argument("-n", type=int, default=None, help=f"operations per measurement (default {full})")
    args = parser.parse_args()
    if args.n is None:
        args.n = short if args.short else full
    return args


@contextmanager
def simulator() -> Iterator[Bench]:
    # A long delivery delay keeps the simulator's delivery thread out of the measurement.
    with SimulatorServer(delivery_delay=3600, callback_retry_delay=3600) as sim:
        # A rate limit high enough that the token bucket never refuses a benchmark send.
        service = sim.add_service(name="Bench", rate_limit=1_000_000, restricted=False)
        key = sim.create_api_key(service_id=service["id"], key_type="test")
        template_id = sim.add_template(
            service_id=service["id"], name="Bench", subject="Hello ((name))", body="Dear ((name))"
        )
        yield Bench(sim, key, str(template_id))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def make_app(bench: Bench, **config: object) -> tuple[Flask, DMEmail]:
    """An app sending through the simulator with the notify backend and, unless ``config``
    says otherwise, no outbox (``DM_EMAIL_OUTBOX_URL=off``): the send path alone."""
    app = Flask(__name__)
    app.config.update(
        {
            "DM_ENVIRONMENT": "test",
            "DM_EMAIL_BACKEND": "notify",
            "DM_NOTIFY_KEY": bench.key,
            "DM_NOTIFY_BASE_URL": bench.simulator.url,
            "DM_NOTIFY_TEMPLATES": {"bench": bench.template_id},
            "DM_NOTIFY_CALLBACKS_ENABLED": False,
            "DM_EMAIL_OUTBOX_URL": "off",
            # The simulator's service allows 1,000,000 a minute: the budget matches it, so
            # the benchmarks measure the send path, not the pace.
            "DM_NOTIFY_RATE_LIMIT": "1000000/60",
            **config,
        }
    )
    return app, DMEmail(app)
