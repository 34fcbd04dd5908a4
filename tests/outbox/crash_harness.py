"""Crash harness: N rows queued; two worker processes, a random one SIGKILLed every 1-3 s
and restarted; the simulator answering 5xx, 429 and hanging *after* storing. Afterwards
every row must exist exactly once on the simulator, none lost, none stuck.

Short form in the test suite (300 rows, 10 kills, SQLite and PostgreSQL); long form
from ``bench/crash_harness.py`` (2,000 rows, 30+ kills).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flask_dm_email.outbox import states
from flask_dm_email.simulator import SimulatorServer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CrashReport:
    rows: int
    kills: int
    duplicates: int
    lost: int
    stuck: int
    seconds: float

    def line(self) -> str:
        return (f"rows {self.rows}, kills {self.kills}: duplicates {self.duplicates}, lost {self.lost}, "
                f"stuck {self.stuck} ({self.seconds:.0f} s)")


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "tests.outbox.crash_app:create_app", "dm-email", "worker",
         "--threads", "4"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def run(outbox_url: str, *, rows: int, kills: int, seed: int = 2026, timeout: float = 300) -> CrashReport:
    rng = random.Random(seed)
    started = time.monotonic()
    with SimulatorServer(delivery_delay=0.05) as sim:
        service = sim.add_service(name="Crash", rate_limit=1_000_000, restricted=False)
        key = sim.create_api_key(service_id=service["id"], key_type="test")
        template = sim.add_template(service_id=service["id"], name="T", subject="Hi ((n))", body="Hello ((n))")
        env = {**os.environ, "CRASH_NOTIFY_KEY": key, "CRASH_NOTIFY_URL": sim.url, "CRASH_OUTBOX_URL": outbox_url,
               "PYTHONPATH": str(ROOT)}
        os.environ.update({k: env[k] for k in ("CRASH_NOTIFY_KEY", "CRASH_NOTIFY_URL", "CRASH_OUTBOX_URL")})
        from flask_dm_email import DMEmail, queue_email

        from .crash_app import create_app

        app = create_app()
        with app.app_context():
            DMEmail.outbox.create_tables()
            ids = [queue_email(f"person{i}@gov.uk", template, {"n": str(i)}).id for i in range(rows)]
        sim.set_faults(seed=seed, error_rate=0.10, error_when="after_store", rate_limit_rate=0.05,
                       hang_rate=0.05, hang_seconds=1.5, hang_when="after_store")
        workers = [_start_worker(env), _start_worker(env)]
        done = 0
        try:
            while done < kills and time.monotonic() - started < timeout:
                time.sleep(rng.uniform(1, 3))
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = _start_worker(env)
                done += 1
            sim.clear_faults()
            store = app.extensions["dm_email"].outbox.store
            with app.app_context():
                while time.monotonic() - started < timeout:
                    counts = store.counts()
                    if counts.get(states.SENT, 0) == rows:
                        break
                    time.sleep(0.5)
                final = {row_id: store.get(row_id) for row_id in ids}
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
        stored = Counter(m["reference"] for m in sim.messages())
    references = {row["notify_reference"] for row in final.values() if row}
    return CrashReport(
        rows=rows,
        kills=done,
        duplicates=sum(1 for ref in references if stored[ref] > 1),
        lost=sum(1 for row in final.values() if row is None or stored[row["notify_reference"]] == 0),
        stuck=sum(1 for row in final.values() if row and row["status"] != states.SENT),
        seconds=time.monotonic() - started,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.db == "sqlite":
        import tempfile

        url = f"sqlite:///{tempfile.mkdtemp()}/crash.sqlite3"
        report = run(url, rows=args.rows, kills=args.kills, timeout=1800)
    else:
        from tests.services import postgres_schema

        with postgres_schema() as url:
            report = run(url, rows=args.rows, kills=args.kills, timeout=1800)
    print(f"{args.db}: {report.line()}")
    sys.exit(0 if report.duplicates == report.lost == report.stuck == 0 else 1)


if __name__ == "__main__":
    main()
