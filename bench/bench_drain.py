"""The outbox worker draining a full queue through the shared budget, against the
simulator in its own process at Notify's real policy: its token bucket starts drained
(another sender has just used it up) and every request takes 200 ms.

Prints the sustained rate (first to last email the simulator stored) against the allowed
rate, and the simulator's 429 count. Targets: >= 0.95 of the allowed rate, 0 x 429.

    python bench/bench_drain.py            # 50,000 emails at 3000/60: about 17.5 minutes
    python bench/bench_drain.py --short    # 2,000 emails at 6000/60, as CI runs it
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests
from _common import parse_args
from flask import Flask

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.outbox.worker import Worker

LATENCY = 0.2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def simulator_process(tmp: Path, rate_limit: int) -> Iterator[tuple[str, str, str]]:
    """A simulator in its own process: (base URL, key, template id)."""
    service_id, secret, template_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    config = {"services": [{
        "id": service_id, "name": "Drain", "rate_limit": rate_limit, "restricted": False,
        "api_keys": [{"name": "drain", "type": "test", "secret": secret}],
        "templates": [{"id": template_id, "name": "Drain", "subject": "Hello ((name))", "body": "Dear ((name))"}],
    }]}
    path = tmp / "simulator.json"
    path.write_text(json.dumps(config))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "flask_dm_email.simulator", "--config", str(path), "--port", str(port),
         "--delivery-delay", "3600", "--callback-retry-delay", "3600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"{url}/_status", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the simulator did not start")
        yield url, f"drain-{service_id}-{secret}", template_id
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_app(url: str, key: str, template_id: str, outbox: Path, rate: str) -> Flask:
    app = Flask(__name__)
    app.config.update(
        DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify", DM_NOTIFY_KEY=key, DM_NOTIFY_BASE_URL=url,
        DM_NOTIFY_TEMPLATES={"drain": template_id}, DM_NOTIFY_CALLBACKS_ENABLED=False,
        DM_EMAIL_OUTBOX_URL=f"sqlite:///{outbox}", DM_NOTIFY_RATE_LIMIT=rate,  # budget: the outbox's database
    )
    dm_email = DMEmail(app)
    with app.app_context():
        dm_email.outbox.create_tables()
    return app


def main() -> None:
    args = parse_args(__doc__ or "", full=50_000, short=2_000)
    per_minute = 6000 if args.short else 3000
    allowed = per_minute / 60
    # Enough threads to keep the allowed rate in flight at 200 ms a request, and some over.
    threads = math.ceil(allowed * LATENCY * 2) + 4
    with tempfile.TemporaryDirectory() as tmp, simulator_process(Path(tmp), per_minute) as (url, key, template):
        app = make_app(url, key, template, Path(tmp) / "outbox.sqlite3", f"{per_minute}/60")
        with app.app_context():
            for n in range(args.n):
                queue_email(f"person{n}@example.gov.uk", "drain", {"name": str(n)})
        requests.post(f"{url}/_simulator/faults", json={"bucket_tokens": 0, "latency": LATENCY}, timeout=5)
        started = time.monotonic()
        worker = Worker(app, threads=threads)
        handled = worker.drain(timeout=args.n / allowed * 2 + 60)
        worker.close()
        took = time.monotonic() - started
        stamps = [m["created_at"] for m in requests.get(f"{url}/_simulator/messages", timeout=60).json()["messages"]]
        stats = requests.get(f"{url}/_simulator/stats", timeout=5).json()
    times = sorted(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() for s in stamps)
    sustained = (len(times) - 1) / (times[-1] - times[0])
    print(f"queue: {args.n} emails, worker threads {threads}, latency {LATENCY * 1000:.0f} ms, bucket drained")
    print(f"drained {handled} rows in {took:.1f} s; the simulator stored {len(times)}")
    print(f"sustained {sustained:.2f}/s of {allowed:g}/s allowed ({per_minute}/60): ratio {sustained / allowed:.3f} "
          "(target >= 0.95)")
    print(f"429s from the simulator: {stats['rate_limited']} rate limit, {stats['daily_limited']} daily (target 0)")
    if len(times) != args.n:
        sys.exit(f"expected {args.n} emails at the simulator, found {len(times)}")


if __name__ == "__main__":
    main()
