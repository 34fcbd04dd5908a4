"""``enqueue_many`` from a generated CSV file: 50,000 rows against 5,000, on a SQLite
file and on PostgreSQL, each run in a child process of its own.

Prints the wall time, the CPU time and the peak RSS each child added while enqueueing
(its peak less its RSS before the first row), and the 50,000/5,000 ratios: time per row
should stay level, and memory flat (the rows are streamed, never held).
Target: <= 10 s for 50,000 rows on each database.

    python bench/bench_bulk.py            # 50,000 and 5,000 rows
    python bench/bench_bulk.py --short    # 2,000 and 200, as CI runs it
    python bench/bench_bulk.py --resume   # the resume harness, long form: bulk send
                                          # SIGKILLed midway through 20,000 rows, run
                                          # again, drained; on both databases

The drain half of a bulk send (the simulator's bucket drained, >= 0.95 of the allowed
rate, 0 x 429) is bench_drain.py.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_status_page import database  # a SQLite file, or a schema in the tests' PostgreSQL
from flask import Flask

from flask_dm_email import DMEmail
from flask_dm_email.outbox import read_csv

TEMPLATE_ID = "4c1c2ddb-6e1e-4a08-9a6e-0f4f8d2b5a52"
TARGET_SECONDS = 10.0


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write("email_address,name,supplier\n")
        file.writelines(f"supplier.{n}@example-{n % 400}.gov.uk,Supplier {n},\"Acme {n}, Ltd\"\n"
                        for n in range(rows))


def child(url: str, csv_path: str) -> None:
    """Enqueue the file once; print the figures as JSON."""
    app = Flask(__name__)
    # The log backend: nothing to fetch the template from, so the columns are checked for
    # consistency only (with Notify, one GET /v2/template/{id} per batch is added).
    app.config.update(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="log", DM_EMAIL_OUTBOX_URL=url,
                      DM_NOTIFY_TEMPLATES={"news": TEMPLATE_ID})
    dm_email = DMEmail(app)
    with app.app_context():
        dm_email.outbox.create_tables()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu = time.perf_counter(), time.process_time()
        result = dm_email.outbox.enqueue_many(read_csv(csv_path), template="news", batch="bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"queued": result.queued, "invalid": result.invalid, "seconds": seconds, "cpu": cpu,
                      "rss_before_mb": before / 1024, "rss_added_mb": (peak - before) / 1024}))


def measure(url: str, csv_path: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", url, str(csv_path)],
                          capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def enqueue_benchmark(short: bool) -> int:
    large, small = (2_000, 200) if short else (50_000, 5_000)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (large, small):
            write_csv(Path(tmp) / f"{rows}.csv", rows)
        print(f"enqueue_many from a CSV file: {large:,} rows against {small:,}")
        for kind in ("sqlite", "postgresql"):
            figures: dict[int, dict[str, float]] = {}
            for rows in (large, small):
                where = Path(tmp) / f"{kind}-{rows}"
                where.mkdir()
                with database(kind, where) as url:
                    if url is None:
                        break
                    figures[rows] = measure(url, Path(tmp) / f"{rows}.csv")
                    assert figures[rows]["queued"] == rows, figures[rows]
            if len(figures) < 2:
                continue
            big, base = figures[large], figures[small]
            per_row = (big["seconds"] / large) / (base["seconds"] / small)
            print(f"\n{kind}:")
            for rows, f in figures.items():
                print(f"  {rows:>7,} rows  {f['seconds']:6.2f} s wall  {f['cpu']:6.2f} s CPU  "
                      f"{rows / f['seconds']:8,.0f} rows/s  peak RSS +{f['rss_added_mb']:5.1f} MB "
                      f"(from {f['rss_before_mb']:.0f} MB)")
            print(f"  time per row {per_row:.2f} x the {small:,}-row run's; "
                  f"memory added {big['rss_added_mb']:.1f} MB vs {base['rss_added_mb']:.1f} MB")
            if not short and big["seconds"] > TARGET_SECONDS:
                print(f"  over the target: {big['seconds']:.1f} s > {TARGET_SECONDS:.0f} s")
                failed = 1
    return failed


def resume_benchmark() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.bulk.resume_harness import run

    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql"):
            with database(kind, Path(tmp)) as url:
                if url is None:
                    continue
                started = time.perf_counter()
                report = run(url, rows=20_000, kill_after=5_000)
                print(f"{kind}: {report.line()}; {time.perf_counter() - started:.0f} s in all", flush=True)
                ok = (report.killed and report.queued == report.recipients == report.emails == 20_000
                      and report.emailed_twice == report.not_emailed == report.rate_limited == 0)
                failed |= not ok
    return failed


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="2,000 and 200 rows, as CI runs it")
    parser.add_argument("--resume", action="store_true", help="the resume harness at 20,000 rows instead")
    args = parser.parse_args()
    sys.exit(resume_benchmark() if args.resume else enqueue_benchmark(args.short))


if __name__ == "__main__":
    main()
