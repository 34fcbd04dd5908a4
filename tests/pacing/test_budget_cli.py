"""``flask dm-email config`` and ``outbox status`` show the shared budget, and
``send-test`` takes its turn from it like every other send."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "tests.pacing.budget_app:create_app", *args],
                           cwd=ROOT, env={**os.environ, **env}, text=True, capture_output=True, timeout=60)


def test_the_budget_is_shown_and_send_test_counts_against_it(sim: Any, template_id: str, tmp_path: Path) -> None:
    env = {"BUDGET_NOTIFY_KEY": sim.api_key("test"), "BUDGET_NOTIFY_URL": sim.url, "BUDGET_TEMPLATE_ID": template_id,
           "BUDGET_OUTBOX_URL": f"sqlite:///{tmp_path / 'outbox.sqlite3'}", "BUDGET_LIMITER_URL": "outbox",
           "BUDGET_RATE": "1200/60", "BUDGET_BURST": "4", "BUDGET_DAILY_LIMIT": "1"}
    assert flask(env, "dm-email", "outbox", "create-tables").returncode == 0

    sent = flask(env, "dm-email", "send-test", "--to", "someone@example.gov.uk", "--template", "welcome",
                 "-p", "name=A")
    assert sent.returncode == 0, sent.stderr
    again = flask(env, "dm-email", "send-test", "--to", "someone@example.gov.uk", "--template", "welcome",
                  "-p", "name=A")
    assert again.returncode == 1
    assert "EmailRateLimitError" in again.stderr and "DM_NOTIFY_DAILY_LIMIT (1 emails a day" in again.stderr
    assert "someone@example.gov.uk" not in again.stderr
    assert len(sim.messages()) == 1

    status = flask(env, "dm-email", "outbox", "status", "--json")
    assert status.returncode == 0, status.stderr
    budget = json.loads(status.stdout)["budget"]
    service_id = sim.service()["id"]
    assert budget["key"] == f"notify:{service_id}" and budget["where"] == "the outbox's database"
    assert (budget["rate_limit"], budget["paced_per_second"], budget["burst"]) == ("1200/60", 19.6, 4)
    assert (budget["daily_used"], budget["daily_limit"], budget["state"]) == (1, 1, "ok")
    assert budget["tokens"] is not None and budget["wait"] is not None

    config = flask(env, "dm-email", "config")
    assert config.returncode == 0, config.stderr
    assert f"rate budget: notify:{service_id} in the outbox's database" in config.stdout
    assert "rate: 1200/60 (sent at 19.6/s), burst 4" in config.stdout
    assert "UTC): 1 of 1" in config.stdout
