"""Profile the callback blueprint against the bare endpoint, in-process, with cProfile.

    python bench/profile_callbacks.py
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the example app
sys.path.insert(0, str(Path(__file__).resolve().parent))  # callback_app
os.environ.setdefault("BENCH_LOG", str(Path(tempfile.mkdtemp()) / "receipts.log"))

from callback_app import TOKEN, create_app

from flask_dm_email.testing import delivery_receipt

BODY = json.dumps(delivery_receipt("user1@example.gov.uk", reference=None))
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def main() -> None:
    clients = {mode: create_app(mode).test_client() for mode in ("bare", "receipt")}
    for mode, client in clients.items():
        for _ in range(200):
            client.post("/callbacks/notify", data=BODY, headers=HEADERS)
        start = time.perf_counter()
        for _ in range(2000):
            client.post("/callbacks/notify", data=BODY, headers=HEADERS)
        print(f"{mode}: {(time.perf_counter() - start) / 2000 * 1e6:.0f} us per request (test client included)")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(2000):
        clients["receipt"].post("/callbacks/notify", data=BODY, headers=HEADERS)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats("flask_dm_email|marshmallow/schema|logging", 20)


if __name__ == "__main__":
    main()
