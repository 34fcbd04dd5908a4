"""``/_dm_email/``: who may see it on each stage, the event feed's cursor (also while
events are being written, and with transactions committing out of order on PostgreSQL),
and the Prometheus metrics, over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from flask_dm_email import DMEmail, EmailConfigError, queue_email
from flask_dm_email.outbox.tables import event
from flask_dm_email.testing import serve_app

from ..conftest import KEY, TEMPLATE_ID, TOKEN

ROOT = Path(__file__).resolve().parents[2]


def _live_app(authorizer: Callable[[Any], bool] | None, **config: Any) -> Flask:
    dm_email = DMEmail()
    if authorizer is not None:
        dm_email.status_page_authorizer(authorizer)
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="staging", DM_NOTIFY_KEY=KEY, DM_NOTIFY_CALLBACK_TOKEN=TOKEN,
                      DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={}, DM_EMAIL_LIMITER_URL="memory",
                      DM_EMAIL_OUTBOX_URL="sqlite://", DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE_ID},
                      DM_EMAIL_STATUS_PAGE=True, **config)
    dm_email.init_app(app)
    with app.app_context():
        dm_email.outbox.create_tables()
    return app


def test_a_live_stage_refuses_the_page_without_an_authorizer() -> None:
    with pytest.raises(EmailConfigError) as info:
        _live_app(None)
    assert info.value.problems[0][0] == "DM_EMAIL_STATUS_PAGE"
    assert "@dm_email.status_page_authorizer" in str(info.value)


def test_the_authorizer_decides_and_a_refusal_is_403_or_hidden_as_404() -> None:
    allowed = _live_app(lambda request: request.headers.get("X-Team") == "yes").test_client()
    assert allowed.get("/_dm_email/events.json", headers={"X-Team": "yes"}).status_code == 200
    assert allowed.get("/_dm_email/events.json").status_code == 403
    assert allowed.get("/_dm_email/metrics").status_code == 403
    hidden = _live_app(lambda request: False, DM_EMAIL_STATUS_PAGE_HIDDEN=True).test_client()
    assert hidden.get("/_dm_email/events.json").status_code == 404


def test_off_by_default_and_open_on_development_without_an_authorizer(make_app: Callable[..., Flask]) -> None:
    assert make_app().test_client().get("/_dm_email/events.json").status_code == 404
    dev = make_app(DM_ENVIRONMENT="development", DM_EMAIL_STATUS_PAGE="true", DM_EMAIL_OUTBOX_URL="sqlite://")
    with dev.app_context():
        DMEmail.outbox.create_tables()
    assert dev.test_client().get("/_dm_email/events.json").json == {"events": [], "next_cursor": 0}


def test_bad_cursor_or_limit_is_a_400_naming_it(make_app: Callable[..., Flask]) -> None:
    client = make_app(DM_EMAIL_STATUS_PAGE="true").test_client()
    answer = client.get("/_dm_email/events.json?after=-1")
    assert answer.status_code == 400 and "after must be a whole number" in answer.json["error"]
    assert client.get("/_dm_email/events.json?limit=5000").status_code == 400


def _read_all(url: str, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = requests.get(f"{url}/_dm_email/events.json", params={"after": cursor, "limit": limit}, timeout=10)
        assert page.status_code == 200
        body = page.json()
        if not body["events"]:
            return found
        found.extend(body["events"])
        cursor = body["next_cursor"]


def test_the_feed_pages_every_event_once_in_order_without_personal_data(
    make_outbox_app: Callable[..., Flask], sim: Any
) -> None:
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    with app.app_context():
        for n in range(12):
            queue_email(f"person-{n}@gov.uk", "welcome", {"name": "A"})
        DMEmail.outbox.drain(timeout=20)
        with app.extensions["dm_email"].outbox.database.connect() as conn:
            ids = [row[0] for row in conn.execute(event.select().with_only_columns(event.c.id).order_by(event.c.id))]
    with serve_app(app) as url:
        events = _read_all(url, limit=7)
        raw = requests.get(f"{url}/_dm_email/events.json?limit=1000", timeout=10).text
    assert [e["cursor"] for e in events] == ids
    assert {e["type"] for e in events} >= {"queued", "claimed", "sent"}
    assert set(events[0]) == {"cursor", "type", "email_id", "status", "http_status", "error_class", "at"}
    assert "@" not in raw and "person-" not in raw


def test_a_reader_misses_nothing_while_emails_are_queued_and_sent(
    make_outbox_app: Callable[..., Flask], sim: Any
) -> None:
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    stop = threading.Event()

    def write() -> None:
        with app.app_context():
            for n in range(60):
                queue_email(f"person-{n}@gov.uk", "welcome", {"name": "A"})
                if n % 10 == 9:
                    DMEmail.outbox.drain(timeout=20)
        stop.set()

    seen: list[int] = []
    with serve_app(app) as url:
        writer = threading.Thread(target=write)
        writer.start()
        cursor = 0
        while True:
            body = requests.get(f"{url}/_dm_email/events.json", params={"after": cursor, "limit": 5}, timeout=10).json()
            seen.extend(e["cursor"] for e in body["events"])
            cursor = body["next_cursor"]
            if not body["events"]:
                if stop.is_set():
                    break
                time.sleep(0.01)
        writer.join()
        seen.extend(e["cursor"] for e in _read_all_after(url, cursor))
    with app.app_context(), app.extensions["dm_email"].outbox.database.connect() as conn:
        ids = [row[0] for row in conn.execute(event.select().with_only_columns(event.c.id).order_by(event.c.id))]
    assert seen == ids  # no gap, no repeat


def _read_all_after(url: str, cursor: int) -> list[dict[str, Any]]:
    body = requests.get(f"{url}/_dm_email/events.json", params={"after": cursor, "limit": 1000}, timeout=10).json()
    return list(body["events"])


def test_an_event_committed_late_is_not_skipped(make_outbox_app: Callable[..., Flask], outbox_url: str) -> None:
    if not outbox_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: its ids become visible in order")
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    client = app.test_client()
    runtime = app.extensions["dm_email"].outbox
    store = runtime.store
    with app.app_context():
        slow = runtime.database.engine.connect()
        slow_txn = slow.begin()
        store.add_event(slow, "", "slow")  # takes id 1, not committed yet
        with runtime.database.begin() as fast:
            store.add_event(fast, "", "fast")  # id 2, committed first
        first = client.get("/_dm_email/events.json?after=0").json
        slow_txn.commit()
        slow.close()
        second = client.get("/_dm_email/events.json?after=0").json
    assert first == {"events": [], "next_cursor": 0}  # waits at the gap instead of passing it
    assert [e["type"] for e in second["events"]] == ["slow", "fast"]


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_what_the_tables_hold(make_outbox_app: Callable[..., Flask], sim: Any) -> None:
    app = make_outbox_app(DM_EMAIL_STATUS_PAGE=True)
    with app.app_context():
        for n in range(3):
            queue_email(f"person-{n}@gov.uk", "welcome", {"name": "A"})
        sim.set_faults(force_429=1)
        DMEmail.outbox.drain(timeout=20)
        queue_email("later@gov.uk", "welcome", {"name": "A"}, send_after=3600)
    answer = app.test_client().get("/_dm_email/metrics")
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    found = _metrics(answer.get_data(as_text=True))
    assert found[("dm_email_outbox_emails", (("status", "sent-to-notify"),))] == 3
    assert found[("dm_email_outbox_emails", (("status", "queued"),))] == 1
    assert found[("dm_email_notify_refusals_total", (("kind", "rate-limited"),))] == 1
    assert found[("dm_email_outbox_oldest_due_seconds", ())] == 0
    assert ("dm_email_limiter_wait_seconds", ()) in found and ("dm_email_daily_used", ()) in found


def test_the_worker_serves_metrics_on_its_own_port(sim: Any, template_id: str, tmp_path: Path) -> None:
    import os
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "BUDGET_NOTIFY_KEY": sim.api_key("test"), "BUDGET_NOTIFY_URL": sim.url,
           "BUDGET_TEMPLATE_ID": template_id, "BUDGET_OUTBOX_URL": f"sqlite:///{tmp_path / 'o.sqlite3'}",
           "BUDGET_LIMITER_URL": "outbox", "BUDGET_RATE": "3000/60", "BUDGET_BURST": "10"}
    app = ["-m", "flask", "--app", "tests.pacing.budget_app:create_app"]
    subprocess.run([sys.executable, *app, "dm-email", "outbox", "create-tables"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    worker = subprocess.Popen([sys.executable, *app, "dm-email", "worker", "--metrics-port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail(f"no metrics: {worker.stderr.read() if worker.poll() is not None else 'still starting'}")
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    found = _metrics(text)
    assert found[("dm_email_outbox_emails", (("status", "queued"),))] == 0
    assert json.dumps(sorted(k[0] for k in found)).count("dm_email_") >= 5
