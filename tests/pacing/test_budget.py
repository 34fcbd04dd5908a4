"""One budget shared by every process, against the simulator at Notify's own policy:
synchronous senders and outbox workers in separate processes, on one Notify key and one
limiter store (the outbox's database on SQLite and PostgreSQL, or Redis).

* the rate: 0 x 429 from a bucket that starts drained, and never more than rate + burst
  requests in any second, by the simulator's own timestamps;
* the daily limit: exactly the limit reaches Notify, the rest are ``held`` until 00:00
  UTC, 0 x TooManyRequestsError, and they go after the (simulated) midnight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from flask_dm_email import queue_email
from flask_dm_email.outbox import states

from ..services import REDIS_URL
from .budget_app import create_app
from .conftest import needs
from .windows import busiest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    """Where one run keeps its outbox and its budget."""

    name: str
    outbox_url: str
    limiter_url: str


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    sqlite_url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    if request.param == "sqlite":
        yield Setup("sqlite", sqlite_url, "outbox")
    elif request.param == "postgresql":
        yield Setup("postgresql", request.getfixturevalue("postgres_url"), "outbox")
    else:
        needs(monkeypatch, "Redis", 6379)
        yield Setup("redis", sqlite_url, REDIS_URL)


class Run:
    """The processes of one run, all on one app config, stopped at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.processes: list[subprocess.Popen[str]] = []

    def app(self, monkeypatch: pytest.MonkeyPatch) -> Flask:
        for name, value in self.env.items():
            if name.startswith("BUDGET_"):
                monkeypatch.setenv(name, value)
        app = create_app()
        with app.app_context():
            app.extensions["dm_email"].outbox.store.create_tables()
        return app

    def start_worker(self) -> subprocess.Popen[str]:
        return self._start("-m", "flask", "--app", "tests.pacing.budget_app:create_app", "dm-email", "worker",
                           "--threads", "4")

    def start_sender(self, count: int, prefix: str) -> subprocess.Popen[str]:
        return self._start("-m", "tests.pacing.budget_sender", str(count), prefix)

    def _start(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def run_processes() -> Iterator[Callable[[dict[str, str]], Run]]:
    runs: list[Run] = []

    def start(env: dict[str, str]) -> Run:
        runs.append(Run(env))
        return runs[-1]

    yield start
    for run in runs:
        run.stop()


def _service(sim: Any, *, rate_limit: int, daily_limit: int, key_type: str) -> tuple[str, str, str]:
    """A service of its own on the simulator: (service id, key, template id)."""
    service = sim.add_service(name=f"Budget {uuid.uuid4().hex[:6]}", rate_limit=rate_limit,
                              email_message_limit=daily_limit)
    service_id = service["id"]
    key = sim.create_api_key(service_id, key_type=key_type)
    template = sim.add_template(service_id, name="Welcome", subject="Hello ((name))", body="Dear ((name))")
    return service_id, key, str(template)


def _env(sim: Any, setup: Setup, key: str, template: str, **extra: str) -> dict[str, str]:
    return {"BUDGET_NOTIFY_KEY": key, "BUDGET_NOTIFY_URL": sim.url, "BUDGET_TEMPLATE_ID": template,
            "BUDGET_OUTBOX_URL": setup.outbox_url, "BUDGET_LIMITER_URL": setup.limiter_url, **extra}


def _created_times(sim: Any, service_id: str) -> list[float]:
    stamps = [m["created_at"] for m in sim.messages(service_id=service_id)]
    return sorted(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() for s in stamps)


def _wait_until(check: Callable[[], bool], timeout: float, what: str, run: Run) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for process in run.processes:
            if process.poll() not in (None, 0):
                pytest.fail(f"a process exited with {process.returncode}: {process.stderr.read()[-2000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_two_senders_and_two_workers_share_one_budget(
    sim: Any, setup: Setup, run_processes: Callable[[dict[str, str]], Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300/60: 4.9 a second, so a synchronous send's 2 s wait spans about 10 slots, fewer
    # than the 16 requests the two workers keep in flight: their threads book only half
    # a second ahead, and every synchronous send still gets its slot.
    rate, burst, queued, each_sender = 300, 2, 30, 10
    service_id, key, template = _service(sim, rate_limit=rate, daily_limit=250_000, key_type="test")
    sim.set_faults(bucket_tokens=0)  # another sender has just drained Notify's bucket
    run = run_processes(_env(sim, setup, key, template, BUDGET_RATE=f"{rate}/60", BUDGET_BURST=str(burst)))
    app = run.app(monkeypatch)
    with app.app_context():
        for number in range(queued):
            queue_email(f"queued-{number}@example.gov.uk", "welcome", {"name": "A"})

    workers = [run.start_worker() for _ in range(2)]
    senders = [run.start_sender(each_sender, f"sync{n}") for n in range(2)]
    results = []
    for sender in senders:
        out, err = sender.communicate(timeout=120)
        assert sender.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    total = queued + 2 * each_sender
    _wait_until(lambda: len(sim.messages(service_id=service_id)) >= total, 120, f"{total} emails", run)
    run.stop()
    assert all(w.returncode is not None for w in workers)

    assert results == [{"sent": each_sender, "refused": 0}] * 2
    assert sim.stats["rate_limited"] == 0
    times = _created_times(sim, service_id)
    assert len(times) == total  # each email once
    assert busiest(times, 1.0) <= rate / 60 + burst, times
    with app.app_context():
        counts = app.extensions["dm_email"].outbox.store.counts()
    assert sum(n for status, n in counts.items() if status in states.WAITING | {states.SENDING}) == 0, counts


def _simulate_midnight(sim: Any, setup: Setup, app: Flask) -> None:
    """What 00:00 UTC does: Notify's count and ours start again, held rows come due."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)

    def today() -> date:
        return tomorrow

    sim.state.daily.today = today
    runtime = app.extensions["dm_email"].outbox
    with app.app_context(), runtime.database.begin() as conn:
        if setup.limiter_url == "outbox":
            conn.execute(text("UPDATE dm_email_limit SET day = '1970-01-01'"))
        conn.execute(text("UPDATE dm_email_outbox SET next_attempt_at = 0 WHERE status = 'held'"))
    if setup.limiter_url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(setup.limiter_url)
        for name in client.scan_iter("dm_email:limit:*"):
            client.hset(name, "day", "0")


def test_the_daily_limit_holds_the_rest_until_midnight(
    sim: Any, setup: Setup, run_processes: Callable[[dict[str, str]], Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    limit, queued = 500, 800
    # Notify's own limit is the same: one email too many would be a TooManyRequestsError.
    service_id, key, template = _service(sim, rate_limit=60_000, daily_limit=limit, key_type="normal")
    run = run_processes(_env(sim, setup, key, template, BUDGET_RATE="60000/60", BUDGET_BURST="10",
                             BUDGET_DAILY_LIMIT=str(limit)))
    app = run.app(monkeypatch)
    with app.app_context():
        for number in range(queued):
            queue_email(f"person-{number}@example.gov.uk", "welcome", {"name": "A"})
    store = app.extensions["dm_email"].outbox.store

    def counts() -> dict[str, int]:
        with app.app_context():
            return dict(store.counts())

    def settled() -> bool:
        now = counts()
        return not any(now.get(s) for s in (states.QUEUED, states.RETRYING, states.SENDING))

    for _ in range(2):
        run.start_worker()
    _wait_until(lambda: settled() and counts().get(states.HELD) == queued - limit, 120, "the day's sends", run)

    assert len(sim.messages(service_id=service_id)) == limit
    assert sim.stats["daily_limited"] == 0
    with app.app_context(), app.extensions["dm_email"].outbox.database.connect() as conn:
        held = text("SELECT next_attempt_at FROM dm_email_outbox WHERE status = 'held'")
        due = {row[0] for row in conn.execute(held)}
    midnight = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    assert due and all(abs(at - midnight.timestamp()) < 1 for at in due), due  # 00:00 UTC, Notify's reset

    _simulate_midnight(sim, setup, app)
    _wait_until(lambda: len(sim.messages(service_id=service_id)) == queued, 120, "the held emails", run)
    _wait_until(lambda: counts().get(states.HELD) is None, 30, "no held rows", run)
    assert sim.stats["daily_limited"] == 0
    assert len({m["reference"] for m in sim.messages(service_id=service_id)}) == queued  # none twice
