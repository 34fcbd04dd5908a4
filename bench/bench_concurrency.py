"""Concurrency: sends from 1, 4 and 16 threads through one app (one Notify client per
thread), against the simulator. Prints the throughput of each and checks that every send
is accounted for: one stored notification per send, with the id the caller got back.

    python bench/bench_concurrency.py            # 1,200 sends per run
    python bench/bench_concurrency.py --short    # 48 sends per run
"""

from __future__ import annotations

import threading
import time

from _common import Bench, make_app, parse_args, simulator
from flask import Flask

from flask_dm_email import DMEmail, SentEmail


def run(bench: Bench, app: Flask, extension: DMEmail, threads: int, total: int, tag: str) -> float:
    results: list[SentEmail] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    per_thread = total // threads

    def worker(n: int) -> None:
        with app.app_context():
            for i in range(per_thread):
                try:
                    result = extension.send_email(f"{tag}.{n}.{i}@gov.uk", "bench", {"name": f"{n}-{i}"})
                except BaseException as error:
                    with lock:
                        errors.append(error)
                else:
                    with lock:
                        results.append(result)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    sent = per_thread * threads
    stored = {m["id"] for m in bench.simulator.messages() if str(m.get("email_address", "")).startswith(f"{tag}.")}
    returned = {r.id for r in results}
    if errors or len(results) != sent or returned != stored:
        raise SystemExit(
            f"{threads} threads: {len(results)} of {sent} sends succeeded, {len(errors)} errors, "
            f"{len(stored)} stored, {len(returned ^ stored)} unaccounted for"
        )
    return sent / elapsed


def main() -> None:
    args = parse_args(__doc__ or "", full=1200, short=48)
    with simulator() as bench:
        app, extension = make_app(bench)
        figures = {threads: run(bench, app, extension, threads, args.n, f"t{threads}") for threads in (1, 4, 16)}
    for threads, rate in figures.items():
        print(f"{threads:2d} thread(s): {rate:8.1f} sends/s, every send accounted for")
    print(f"ratio 16 threads / 1 thread: {figures[16] / figures[1]:.2f}")


if __name__ == "__main__":
    main()
