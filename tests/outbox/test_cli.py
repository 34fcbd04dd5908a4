"""``flask dm-email outbox ...`` and ``flask dm-email worker``, run as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tests.outbox.crash_app:create_app", "dm-email", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def queue(env: dict[str, str], count: int, **kwargs: Any) -> list[str]:
    os.environ.update({k: env[k] for k in ("CRASH_NOTIFY_KEY", "CRASH_NOTIFY_URL", "CRASH_OUTBOX_URL")})
    from flask_dm_email import DMEmail, queue_email

    from .crash_app import create_app

    app = create_app()
    with app.app_context():
        DMEmail.outbox.create_tables()
        ids = [queue_email(f"p{n}@gov.uk", env["CRASH_TEMPLATE"], {"n": str(n)}, **kwargs).id for n in range(count)]
    app.extensions["dm_email"].outbox.database.engine.dispose()
    return ids


def test_status_list_show_and_the_worker_once(env: dict[str, str], sim: Any) -> None:
    ids = queue(env, 3)
    status = json.loads(flask(env, "outbox", "status", "--json").stdout)
    assert status["counts"]["queued"] == 3 and status["paused"] is False
    listed = [json.loads(line) for line in flask(env, "outbox", "list", "--json").stdout.splitlines()]
    assert {row["id"] for row in listed} == set(ids)
    assert all("@" not in json.dumps(row) for row in listed)  # hashed addresses only
    worker = flask(env, "worker", "--once")
    assert worker.returncode == 0, worker.stderr
    assert json.loads(flask(env, "outbox", "status", "--json").stdout)["counts"]["sent-to-notify"] == 3
    shown = flask(env, "outbox", "show", ids[0])
    assert "timeline:" in shown.stdout and "claimed" in shown.stdout and "sent" in shown.stdout
    assert "@" not in shown.stdout
    assert len(sim.messages()) == 3


def test_actions_refused_with_a_message_not_a_traceback(env: dict[str, str]) -> None:
    [email_id] = queue(env, 1)
    assert flask(env, "outbox", "cancel", email_id).stdout.strip() == f"{email_id}: cancelled"
    again = flask(env, "outbox", "retry", email_id)
    assert again.returncode == 1
    assert "OutboxStateError" in again.stderr and "Traceback" not in again.stderr
    missing = flask(env, "outbox", "show", "no-such-id")
    assert missing.returncode == 1 and "No email no-such-id" in missing.stderr


def test_pause_and_resume_reach_every_process(env: dict[str, str]) -> None:
    queue(env, 2)
    assert flask(env, "outbox", "pause").returncode == 0
    flask(env, "worker", "--once")
    assert json.loads(flask(env, "outbox", "status", "--json").stdout)["counts"]["queued"] == 2
    flask(env, "outbox", "resume")
    flask(env, "worker", "--once")
    assert json.loads(flask(env, "outbox", "status", "--json").stdout)["counts"]["sent-to-notify"] == 2


def test_sigterm_stops_the_worker_gracefully(env: dict[str, str], sim: Any) -> None:
    queue(env, 20)
    sim.set_faults(latency=0.3)
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "tests.outbox.crash_app:create_app", "dm-email", "worker",
         "--threads", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait for its start line (its signal handlers are in place by then: a slow start on a
    # busy machine must not meet the default SIGTERM), then stop it mid-work.
    assert worker.stderr is not None
    started = ""
    while "Outbox worker:" not in started:
        line = worker.stderr.readline()
        assert line, f"the worker exited before it started: {started}"
        started += line
    time.sleep(1.0)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=20)
    assert worker.returncode == 0, started + stderr
    assert "Stopping" in stderr
    counts = json.loads(flask(env, "outbox", "status", "--json").stdout)["counts"]
    # Nothing is left in flight: each row was sent or given back for the next worker.
    assert counts["sending-to-notify"] == 0
    assert counts["sent-to-notify"] + counts["queued"] == 20
