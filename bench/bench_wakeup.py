"""Queue to sent across processes on PostgreSQL: a worker process woken by LISTEN/NOTIFY
against the same worker polling only (every 0.5 s, the default), in alternating rounds.

This process queues emails one at a time at random gaps (so they land anywhere in the
worker's poll); a ``flask dm-email worker``-like child process sends them to the
simulator. Latency is the row's ``sent_at`` minus its ``created_at``, both the
database's clock. Prints the median and p95 of each and their ratio.

    python bench/bench_wakeup.py            # full run
    python bench/bench_wakeup.py --short    # a quick check that it works
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import Bench, make_app, parse_args, simulator
from bench_status_page import database  # a fresh schema in the tests' PostgreSQL, or None
from flask import Flask
from sqlalchemy import select

from flask_dm_email import queue_email
from flask_dm_email.outbox.tables import outbox

ROOT = Path(__file__).resolve().parents[1]


def worker_main(url: str, simulator_url: str, key: str, template: str, listen: bool) -> None:
    """The child: a worker until its stdin closes; prints ``ready`` once it waits."""
    from _common import Bench as ChildBench

    from flask_dm_email.outbox.worker import Worker

    app, _ = make_app(ChildBench(_Url(simulator_url), key, template), DM_EMAIL_OUTBOX_URL=url)  # type: ignore[arg-type]
    worker = Worker(app, threads=2, listen=listen)
    threading.Thread(target=worker.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while listen and (worker.listener is None or not worker.listener.listening.is_set()):
        assert time.monotonic() < deadline, "the worker never LISTENed"
        time.sleep(0.01)
    time.sleep(0.5)
    print("ready", flush=True)
    sys.stdin.read()
    worker.close()


class _Url:
    """Stands in for the simulator in the child: only its URL is used."""

    def __init__(self, url: str) -> None:
        self.url = url


def one_round(bench: Bench, url: str, listen: bool, emails: int) -> list[float]:
    """Start a worker process, queue ``emails`` at random gaps, return each one's
    queue-to-sent seconds."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--worker", url, bench.simulator.url, bench.key, bench.template_id,
         "1" if listen else "0"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    app, _ = make_app(bench, DM_EMAIL_OUTBOX_URL=url)
    ids = []
    with app.app_context():
        for n in range(emails):
            time.sleep(random.uniform(0.05, 0.6))
            ids.append(queue_email(f"user{n}@gov.uk", "bench", {"name": str(n)}).id)
        engine = app.extensions["dm_email"].outbox.database.engine
        query = select(outbox.c.sent_at - outbox.c.created_at).where(outbox.c.id.in_(ids),
                                                                     outbox.c.sent_at.is_not(None))
        deadline = time.monotonic() + 30
        while True:
            with engine.connect() as conn:
                latencies = [float(x) for x in conn.execute(query).scalars()]
            if len(latencies) == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        engine.dispose()
    child.stdin.close()
    child.wait(30)
    assert len(latencies) == len(ids), f"{len(ids) - len(latencies)} emails were not sent"
    return latencies


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    args = parse_args(__doc__ or "", full=40, short=4)
    rounds = 1 if args.short else 3
    with simulator() as bench, tempfile.TemporaryDirectory() as tmp, database("postgresql", Path(tmp)) as url:
        if url is None:
            return
        from flask_dm_email import DMEmail

        app, _ = make_app(bench, DM_EMAIL_OUTBOX_URL=url)
        with app.app_context():
            DMEmail.outbox.create_tables()
        results: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for listen in (True, False):
                results[listen] += one_round(bench, url, listen, args.n)
        cost = queue_cost(app, args.n * 5)
    for listen, name in ((True, "LISTEN/NOTIFY"), (False, "polling only (0.5 s)")):
        ms = [s * 1000 for s in results[listen]]
        print(f"{name:22} {len(ms)} emails: median {statistics.median(ms):7.1f} ms, p95 {p95(ms):7.1f} ms")
    ratio = statistics.median(results[True]) / statistics.median(results[False])
    print(f"ratio median LISTEN/polling: {ratio:.3f}")
    print(f"queue_email on PostgreSQL, {len(cost[True])} each, interleaved: median "
          f"{statistics.median(cost[True]):.3f} ms with the NOTIFY, {statistics.median(cost[False]):.3f} ms without")
    print(f"one NOTIFY (its own transaction, from the notifier's thread): {cost[None][0]:.3f} ms CPU in the sender")


def queue_cost(app: Flask, count: int) -> dict[bool | None, list[float]]:
    """queue_email's time in the caller, with the NOTIFY (sent from its own thread) and
    with it switched off, alternately; and (under None) the CPU of one NOTIFY."""
    runtime = app.extensions["dm_email"].outbox
    notify = runtime._notifier.notify
    cost: dict[bool | None, list[float]] = {True: [], False: []}
    with app.app_context():
        queue_email("warm@gov.uk", "bench", {"name": "w"})
        for n in range(count):
            notifying = n % 2 == 0
            runtime._notifier.notify = notify if notifying else (lambda engine: None)
            start = time.perf_counter()
            queue_email(f"cost{n}@gov.uk", "bench", {"name": str(n)})
            cost[notifying].append((time.perf_counter() - start) * 1000)
            time.sleep(0.03)  # the notifier's thread has sent: its work is not in the next sample
        runtime._notifier.notify = notify
        cpu = time.process_time()
        for _ in range(count):
            runtime._notifier._send()
        cost[None] = [(time.process_time() - cpu) * 1000 / count]
    return cost


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(*sys.argv[2:6], listen=sys.argv[6] == "1")
    else:
        main()
