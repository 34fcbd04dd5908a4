"""Send overhead: DMEmail.send_email (notify backend) against a bare
NotificationsAPIClient.send_email_notification, on the same simulator, in the same
process, interleaved in rounds so drift affects both alike.

Prints the median per-send time of each and their ratio (target: <= 1.05), with no
outbox; then the same send recording its row in an outbox (SQLite file), for reference.

    python bench/bench_send.py            # full run
    python bench/bench_send.py --short    # a quick check that it works
"""

from __future__ import annotations

import tempfile
import time

from _common import Bench, make_app, median_ms, parse_args, simulator
from flask import Flask
from notifications_python_client.notifications import NotificationsAPIClient

from flask_dm_email import send_email


def main() -> None:
    args = parse_args(__doc__ or "", full=2000, short=40)
    rounds = 10 if not args.short else 2
    per_round = max(1, args.n // rounds)
    with simulator() as bench, tempfile.TemporaryDirectory() as tmp:
        ext_times, raw_times = run(bench, rounds, per_round)
        app, _ = make_app(bench, DM_EMAIL_OUTBOX_URL=f"sqlite:///{tmp}/outbox.sqlite3")
        recorded, raw_again = run(bench, rounds, per_round, app)
    ext, raw = median_ms(ext_times), median_ms(raw_times)
    print(f"sends per client: {len(ext_times)} in {rounds} interleaved rounds")
    print(f"bare NotificationsAPIClient: median {raw:.3f} ms/send")
    print(f"DMEmail.send_email:          median {ext:.3f} ms/send")
    print(f"ratio extension/bare: {ext / raw:.3f} (target <= 1.05)")
    rec, raw2 = median_ms(recorded), median_ms(raw_again)
    print(f"with its outbox row (SQLite): median {rec:.3f} ms/send, ratio {rec / raw2:.3f} (for reference)")


def run(bench: Bench, rounds: int, per_round: int, app: Flask | None = None) -> tuple[list[float], list[float]]:
    if app is None:
        app, _ = make_app(bench)
    if app.extensions["dm_email"].outbox is not None:
        with app.app_context():
            app.extensions["dm_email"].outbox.store.create_tables()
    client = NotificationsAPIClient(bench.key, base_url=bench.simulator.url)
    ext_times: list[float] = []
    raw_times: list[float] = []
    counter = 0
    with app.app_context():
        # Warm both connection pools first.
        send_email("warm@gov.uk", "bench", {"name": "warm"})
        client.send_email_notification("warm@gov.uk", bench.template_id, {"name": "warm"}, reference="warm")
        for _ in range(rounds):
            for _ in range(per_round):
                counter += 1
                to, personalisation = f"user{counter}@gov.uk", {"name": str(counter)}
                start = time.perf_counter()
                send_email(to, "bench", personalisation)
                ext_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.send_email_notification(to, bench.template_id, personalisation, reference=str(counter))
                raw_times.append(time.perf_counter() - start)
    return ext_times, raw_times


if __name__ == "__main__":
    main()
