"""A bulk send killed midway and run again, as an operator would: ``flask dm-email bulk
send`` is SIGKILLed while queueing, run again, then a worker drains the batch into the
simulator: every row exactly once, and exactly one email per recipient. 4,000 rows here
(draining is the slow half); ``bench/bench_bulk.py --resume`` runs 20,000 on both databases.

The progress bar: rows/s and ETA on a terminal, no address, nothing when not a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from . import resume_harness

ROOT = Path(__file__).resolve().parents[2]
ROWS = 4000


@pytest.fixture
def env(sim: Any, outbox_url: str) -> dict[str, str]:
    service = sim.add_service(name="Bulk", rate_limit=1_000_000, restricted=False)
    template = sim.add_template(service_id=service["id"], name="News", subject="News for ((name))", body="Hi ((name))")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DM_ENVIRONMENT": "test",
        "DM_EMAIL_BACKEND": "notify",
        "DM_NOTIFY_KEY": sim.create_api_key(service_id=service["id"], key_type="test"),
        "DM_NOTIFY_BASE_URL": sim.url,
        "DM_NOTIFY_CALLBACKS_ENABLED": "false",
        "DM_NOTIFY_RATE_LIMIT": "1000000/60",
        "DM_EMAIL_OUTBOX_URL": outbox_url,
        "BULK_TEMPLATE": template,
    }


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "tests.bulk.bulk_app:create_app", "dm-email", *args]


def run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(flask(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_a_killed_bulk_send_run_again_sends_each_recipient_exactly_once(outbox_url: str) -> None:
    report = resume_harness.run(outbox_url, rows=ROWS, kill_after=1000)
    print(report.line())
    # Killed midway, with only whole 1,000-row transactions in the outbox.
    assert report.killed and 0 < report.killed_at < ROWS and report.killed_at % 1000 == 0, report.line()
    assert (report.rerun_queued, report.rerun_already_queued) == (ROWS - report.killed_at, report.killed_at)
    assert report.queued == report.recipients == ROWS
    assert (report.emails, report.emailed_twice, report.not_emailed) == (ROWS, 0, 0), report.line()
    assert report.rate_limited == 0


def test_progress_shows_on_a_terminal_without_addresses(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "outbox", "create-tables").returncode == 0
    path = tmp_path / "few.csv"
    path.write_text("email_address,name\n" + "".join(f"p{n}@gov.uk,P{n}\n" for n in range(2500)) + "bad,X\n")
    send = ["bulk", "send", "--template", "news", "--csv", str(path), "--batch", "tty"]
    leader, follower = pty.openpty()
    process = subprocess.Popen(flask(*send), cwd=ROOT, env={**env, "COLUMNS": "120"}, stdin=follower,
                               stdout=follower, stderr=follower)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(60) == 0
    shown = output.decode()
    assert "Queueing" in shown and "rows/s" in shown and "2501/2501" in shown
    assert "@" not in shown
    quiet = run(env, *send)  # not a terminal: no bar, just the counts
    assert "Queueing" not in quiet.stdout and "rows/s" not in quiet.stdout
