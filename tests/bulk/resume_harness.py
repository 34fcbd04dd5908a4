"""The resume harness: ``flask dm-email bulk send`` SIGKILLed while it queues a CSV of
``rows`` recipients, run again, then a worker drains the batch into the simulator. A
report of the rows queued and the emails the simulator stored, per recipient.

The test suite runs it with 4,000 rows (tests/bulk/test_resume.py); the long form,
20,000 rows on SQLite and PostgreSQL, is ``bench/bench_bulk.py --resume``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from flask_dm_email.outbox.tables import outbox
from flask_dm_email.simulator import SimulatorServer

ROOT = Path(__file__).resolve().parents[2]
BATCH = "framework"


@dataclass
class ResumeReport:
    rows: int
    killed_at: int  # rows in the batch once the first run was killed
    killed: bool  # the first run died of the SIGKILL (it had not finished)
    rerun_queued: int
    rerun_already_queued: int
    queued: int  # rows in the batch after the second run
    recipients: int  # distinct recipients among them
    emails: int  # emails the simulator stored
    emailed_twice: int  # recipients with more than one
    not_emailed: int  # recipients with none
    rate_limited: int  # 429s the simulator answered
    drain_seconds: float

    def line(self) -> str:
        return (f"{self.rows} rows, killed at {self.killed_at}; rerun queued {self.rerun_queued} "
                f"(already {self.rerun_already_queued}); {self.queued} rows for {self.recipients} recipients; "
                f"{self.emails} emails ({self.emailed_twice} twice, {self.not_emailed} missing, "
                f"{self.rate_limited} x 429) drained in {self.drain_seconds:.1f} s")


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "tests.bulk.bulk_app:create_app", "dm-email", *args]


def run(outbox_url: str, *, rows: int, kill_after: int, threads: int = 8) -> ResumeReport:
    engine = create_engine(outbox_url)

    def count(column: Any) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(column).where(outbox.c.batch_id == BATCH)).scalar_one())

    try:
        return _run(outbox_url, count, rows=rows, kill_after=kill_after, threads=threads)
    finally:
        engine.dispose()


def _run(outbox_url: str, count: Callable[[Any], int], *, rows: int, kill_after: int, threads: int) -> ResumeReport:
    with SimulatorServer(delivery_delay=3600, callback_retry_delay=3600) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        # A service and a budget fast enough that the drain is bounded by the machine.
        service = sim.add_service(name="Bulk", rate_limit=1_000_000, restricted=False)
        template = sim.add_template(service_id=service["id"], name="News", subject="News for ((name))",
                                    body="Hi ((name))")
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "DM_ENVIRONMENT": "test", "DM_EMAIL_BACKEND": "notify",
            "DM_NOTIFY_KEY": sim.create_api_key(service_id=service["id"], key_type="test"),
            "DM_NOTIFY_BASE_URL": sim.url, "DM_NOTIFY_CALLBACKS_ENABLED": "false",
            "DM_NOTIFY_RATE_LIMIT": "1000000/60", "DM_EMAIL_OUTBOX_URL": outbox_url, "BULK_TEMPLATE": template,
        }
        path = Path(tmp) / "suppliers.csv"
        with path.open("w", encoding="utf-8") as file:
            file.write("email_address,name\n")
            file.writelines(f"supplier{n}@gov.uk,Supplier {n}\n" for n in range(rows))
        subprocess.run(_flask("outbox", "create-tables"), cwd=ROOT, env=env, check=True, capture_output=True)
        send = _flask("bulk", "send", "--template", "news", "--csv", str(path), "--batch", BATCH)
        process = subprocess.Popen(send, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        in_batch = func.count()
        while count(in_batch) < kill_after and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        killed_at = count(in_batch)
        again = subprocess.run(send, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=True)
        figures = {label: int(n) for label, n in re.findall(r"^(queued|already queued) .*?(\d+)$", again.stdout, re.M)}
        started = time.monotonic()
        subprocess.run(_flask("worker", "--once", "--threads", str(threads)), cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=3600)
        drained = time.monotonic() - started
        per_recipient = Counter(m["email_address"] for m in sim.messages())
        wanted = {f"supplier{n}@gov.uk" for n in range(rows)}
        return ResumeReport(
            rows=rows, killed_at=killed_at, killed=process.returncode == -signal.SIGKILL,
            rerun_queued=figures.get("queued", -1), rerun_already_queued=figures.get("already queued", -1),
            queued=count(in_batch), recipients=count(func.count(outbox.c.to_hash.distinct())),
            emails=sum(per_recipient.values()), emailed_twice=sum(1 for n in per_recipient.values() if n > 1),
            not_emailed=len(wanted - per_recipient.keys()), rate_limited=sim.stats["rate_limited"],
            drain_seconds=drained,
        )
