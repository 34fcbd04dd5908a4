"""queue_email inside a Flask request (outbox on a SQLite file) against a synchronous
send_email to the simulator inside the same kind of request, interleaved in rounds.

Prints the median per request of each and their ratio (targets: queue_email <= 2 ms
p50, and <= 0.5 x the synchronous send).

    python bench/bench_outbox.py            # full run
    python bench/bench_outbox.py --short    # a quick check that it works
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import Bench, make_app, median_ms, parse_args, simulator
from flask import Flask

from flask_dm_email import queue_email, send_email


def make_outbox_app(bench: Bench, outbox: Path) -> Flask:
    """Queues in an outbox on a SQLite file."""
    app, dm_email = make_app(bench, DM_EMAIL_OUTBOX_URL=f"sqlite:///{outbox}")
    with app.app_context():
        dm_email.outbox.create_tables()

    @app.post("/queue/<int:n>")
    def queue(n: int) -> str:
        return queue_email(f"user{n}@gov.uk", "bench", {"name": str(n)}).id

    return app


def make_sending_app(bench: Bench) -> Flask:
    """Sends synchronously, as an app without the outbox does (the baseline)."""
    app, _ = make_app(bench)

    @app.post("/send/<int:n>")
    def send(n: int) -> str:
        return send_email(f"user{n}@gov.uk", "bench", {"name": str(n)}).id

    return app


def main() -> None:
    args = parse_args(__doc__ or "", full=2000, short=40)
    rounds = 10 if not args.short else 2
    per_round = max(1, args.n // rounds)
    queued: list[float] = []
    sent: list[float] = []
    with simulator() as bench, tempfile.TemporaryDirectory() as tmp:
        client = make_outbox_app(bench, Path(tmp) / "outbox.sqlite3").test_client()
        sender = make_sending_app(bench).test_client()
        client.post("/queue/0")
        sender.post("/send/0")  # warm both paths
        n = 0
        for _ in range(rounds):
            for _ in range(per_round):
                n += 1
                start = time.perf_counter()
                assert client.post(f"/queue/{n}").status_code == 200
                queued.append(time.perf_counter() - start)
                start = time.perf_counter()
                assert sender.post(f"/send/{n}").status_code == 200
                sent.append(time.perf_counter() - start)
    q, s = median_ms(queued), median_ms(sent)
    print(f"requests per kind: {len(queued)} in {rounds} interleaved rounds")
    print(f"queue_email in a request (SQLite WAL): median {q:.3f} ms (target <= 2 ms)")
    print(f"send_email in a request (simulator):   median {s:.3f} ms")
    print(f"ratio queue/send: {q / s:.3f} (target <= 0.5)")


if __name__ == "__main__":
    main()
