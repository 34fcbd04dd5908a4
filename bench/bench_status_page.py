"""The status page with 50,000 emails in the outbox (and four events each), on SQLite and
on PostgreSQL, against a bare endpoint that runs ``SELECT 1`` on the same database in the
same app (the baseline: Flask, the test client and one round trip).

Prints the median time per request of the index, searches (by address hash, reference,
status, template, batch, link), a deep page, the batches page, an email's page and the
event feed, with their ratio to the baseline. Target: every page < 200 ms.

    python bench/bench_status_page.py            # 50,000 rows
    python bench/bench_status_page.py --short    # 2,000 rows: a quick check that it works
"""

from __future__ import annotations

import random
import secrets
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import Bench, make_app, median_ms, parse_args, simulator
from flask import Flask
from sqlalchemy import func, select, text

from flask_dm_email.hashing import hash_string
from flask_dm_email.outbox import states
from flask_dm_email.outbox.tables import batch as batch_table
from flask_dm_email.outbox.tables import event, outbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.services import POSTGRES_URL, postgres_schema  # the tests' PostgreSQL

TARGET_MS = 200.0
# A week of a service's email: mostly delivered, some on their way, a few failures.
MIX = [(states.DELIVERED, 80), (states.SENT, 6), (states.NOTIFY_SENDING, 3), (states.PERMANENT_FAILURE, 4),
       (states.TEMPORARY_FAILURE, 1), (states.QUEUED, 3), (states.RETRYING, 1), (states.FAILED, 1),
       (states.CANCELLED, 1)]
EVENTS = {states.DELIVERED: ["queued", "claimed", "sent", "receipt"], states.PERMANENT_FAILURE: ["queued", "claimed",
          "sent", "receipt"], states.QUEUED: ["queued"], states.FAILED: ["queued", "claimed", "failed"]}


def fill(app: Flask, rows: int) -> dict[str, str]:
    """``rows`` emails and their events, written in bulk; some values to search for."""
    store = app.extensions["dm_email"].outbox.store
    statuses = random.Random(1).choices([s for s, _ in MIX], weights=[w for _, w in MIX], k=rows)
    now = time.time()
    template_id = app.config["DM_NOTIFY_TEMPLATES"]["bench"]
    batch: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    sample: dict[str, str] = {}
    with store.db.begin() as conn:
        for n, status in enumerate(statuses):
            created = now - 7 * 86400 * (rows - n) / rows
            row_id = str(uuid.uuid4())
            reference = hash_string(f"reference {n}")
            final = created + 30 if status in states.FINAL else None
            batch.append({
                "id": row_id, "service_id": store.service_id, "status": status, "priority": 0,
                "template_id": template_id, "template_name": "bench", "to_address": None, "personalisation": None,
                "to_hash": hash_string(f"user{n}@gov.uk"), "redirected": False, "reference": reference,
                "batch_id": "bench-batch", "batch_key": hash_string(f"user{n}@gov.uk"),
                "notify_reference": f"{reference}-{row_id}", "generation": 1, "link_type": "user",
                "link_id": str(n), "attempts": 1, "next_attempt_at": created, "abandon_after": created + 3600,
                "maybe_sent": False, "created_at": created, "updated_at": final or created, "final_at": final,
                "last_error_class": "BadRequestError" if status == states.FAILED else None,
            })
            for offset, kind in enumerate(EVENTS.get(status, ["queued", "claimed", "sent"])):
                events.append({"outbox_id": row_id, "type": kind, "status": status, "at": created + offset})
            if n == rows // 2:
                sample = {"id": row_id, "reference": reference, "link": f"user:{n}", "address": f"user{n}@gov.uk"}
            if len(batch) == 5000:
                conn.execute(outbox.insert(), batch)
                conn.execute(event.insert(), events)
                batch, events = [], []
        if batch:
            conn.execute(outbox.insert(), batch)
            conn.execute(event.insert(), events)
        # Every email came from one bulk batch (the page shows its progress).
        conn.execute(batch_table.insert().values(
            service_id=store.service_id, name="bench-batch", template_id=template_id, template_name="bench",
            invalid=0, created_at=now - 7 * 86400, updated_at=now))
        if store.db.dialect == "postgresql":
            conn.execute(text("ANALYZE dm_email_outbox"))
            conn.execute(text("ANALYZE dm_email_event"))
            conn.execute(text("ANALYZE dm_email_batch"))
    return sample


def build(bench: Bench, url: str) -> Flask:
    app, dm_email = make_app(bench, DM_EMAIL_OUTBOX_URL=url, DM_EMAIL_STATUS_PAGE=True, SECRET_KEY=secrets.token_hex())
    with app.app_context():
        dm_email.outbox.create_tables()
    store = app.extensions["dm_email"].outbox.store

    @app.get("/select1")
    def select1() -> str:
        with store.db.connect() as conn:
            return str(conn.execute(text("SELECT 1")).scalar_one())

    return app


def timed(request: Callable[[], Any], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        answer = request()
        samples.append(time.perf_counter() - started)
        assert answer.status_code in (200, 303), answer.status_code
    return median_ms(samples)


def measure(app: Flask, sample: dict[str, str], rows: int, times: int) -> list[tuple[str, float]]:
    client = app.test_client()
    deep = max(1, rows // 50 // 2)  # the middle of the list: 50 emails a page
    found = client.post("/_dm_email/search", data={"address": sample["address"]})
    by_hash = found.headers["Location"]
    store = app.extensions["dm_email"].outbox.store
    with store.db.connect() as conn:
        middle = int(conn.execute(select(func.max(event.c.id))).scalar_one()) // 2
    pages = {
        "baseline: SELECT 1": lambda: client.get("/select1"),
        "index": lambda: client.get("/_dm_email/"),
        "search by address (POST, hashed)": lambda: client.post("/_dm_email/search",
                                                                data={"address": sample["address"]}),
        "search by address (the list)": lambda: client.get(by_hash),
        "search by reference": lambda: client.get("/_dm_email/", query_string={"reference": sample["reference"]}),
        "search by status (failed)": lambda: client.get("/_dm_email/?status=failed-send-to-notify"),
        "search by template (every email)": lambda: client.get("/_dm_email/?template=bench"),
        "search by batch (every email)": lambda: client.get("/_dm_email/?batch=bench-batch"),
        "search by link": lambda: client.get("/_dm_email/", query_string={"link": sample["link"]}),
        f"page {deep:,} of the list": lambda: client.get(f"/_dm_email/?page={deep}"),
        "batches (one batch of every email)": lambda: client.get("/_dm_email/batches"),
        "an email's page": lambda: client.get(f"/_dm_email/emails/{sample['id']}"),
        "events feed (100 after the middle)": lambda: client.get(f"/_dm_email/events.json?after={middle}&limit=100"),
    }
    for request in pages.values():
        request()  # warm: compiled statements, templates, the database's cache
    return [(name, timed(request, times)) for name, request in pages.items()]


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str | None]:
    """A SQLite file, or a fresh schema in the tests' PostgreSQL (None if it is down)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'outbox.sqlite3'}"
        return
    parts = urlsplit(POSTGRES_URL.replace("+psycopg", ""))
    try:
        socket.create_connection((parts.hostname, parts.port or 5432), timeout=1).close()
    except OSError:
        print(f"PostgreSQL is not running on {parts.hostname}:{parts.port or 5432}: skipped")
        yield None
        return
    with postgres_schema() as url:
        yield url


def main() -> None:
    args = parse_args(__doc__ or "", full=50_000, short=2_000)
    times = 5 if args.short else 15
    worst = 0.0
    with simulator() as bench, tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql"):
            with database(kind, Path(tmp)) as url:
                if url is None:
                    continue
                app = build(bench, url)
                started = time.perf_counter()
                sample = fill(app, args.n)
                print(f"\n{kind}: {args.n:,} emails written in {time.perf_counter() - started:.1f} s; "
                      f"median of {times} requests each")
                results = measure(app, sample, args.n, times)
                baseline = results[0][1]
                for name, ms in results:
                    ratio = "" if name.startswith("baseline") else f"  {ms / baseline:6.1f} x baseline"
                    print(f"  {name:40} {ms:8.1f} ms{ratio}")
                worst = max(worst, *(ms for _, ms in results))
                app.extensions["dm_email"].outbox.database.engine.dispose()
    verdict = "ok" if worst < TARGET_MS else "OVER"
    print(f"\nslowest page {worst:.1f} ms (target < {TARGET_MS:.0f} ms): {verdict}")
    if worst >= TARGET_MS and not args.short:
        sys.exit(1)


if __name__ == "__main__":
    main()
