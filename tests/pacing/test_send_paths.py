"""Every send path takes its turn from the shared budget, against the simulator over HTTP:
what a caller sees when the budget is booked, when the day's count is used up, and after
Notify still answers 429."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_dm_email import (
    DMEmail,
    EmailRateLimitError,
    EmailUnavailableError,
    queue_email,
    send_email,
)
from flask_dm_email.outbox import states
from flask_dm_email.state import get_state

from ..conftest import TEMPLATE_ID


@pytest.fixture
def paced_app(sim: Any, template_id: str) -> Callable[..., Flask]:
    def make(**config: Any) -> Flask:
        app = Flask(__name__)
        app.config.update(
            DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify", DM_NOTIFY_KEY=sim.api_key("test"),
            DM_NOTIFY_BASE_URL=sim.url, DM_NOTIFY_TEMPLATES={"welcome": template_id},
            DM_NOTIFY_CALLBACKS_ENABLED=False, **config,
        )
        DMEmail(app)
        return app

    return make


def test_a_synchronous_send_waits_at_most_two_seconds_for_its_slot(
    paced_app: Callable[..., Flask], sim: Any
) -> None:
    # 120 a minute, no burst: a slot every ~0.51 s, and a new budget starts two slots in.
    app = paced_app(DM_NOTIFY_RATE_LIMIT="120/60", DM_NOTIFY_RATE_BURST=0, DM_EMAIL_OUTBOX_URL="off")
    sent: list[str] = []
    refused: list[EmailRateLimitError] = []

    def send(number: int) -> None:
        with app.app_context():
            try:
                sent.append(send_email(f"person-{number}@example.gov.uk", "welcome", {"name": "A"}).id)
            except EmailRateLimitError as error:
                refused.append(error)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert 1 <= len(sent) <= 4 and len(sent) + len(refused) == 8
    assert sorted(m["id"] for m in sim.messages()) == sorted(sent)  # the refused were not sent
    assert sim.stats["rate_limited"] == 0
    message = str(refused[0])
    assert "rate budget notify:" in message and "Nothing was sent" in message and "queue_email" in message


def test_a_synchronous_send_over_the_daily_limit_is_refused_and_not_sent(
    paced_app: Callable[..., Flask], sim: Any
) -> None:
    app = paced_app(DM_NOTIFY_DAILY_LIMIT=2, DM_EMAIL_OUTBOX_URL="off")
    with app.app_context():
        for number in range(2):
            send_email(f"person-{number}@example.gov.uk", "welcome", {"name": "A"})
        # Notify does not count its smoke-test addresses, and neither do we.
        send_email("simulate-delivered@notifications.service.gov.uk", "welcome", {"name": "A"})
        with pytest.raises(EmailRateLimitError) as info:
            send_email("person-3@example.gov.uk", "welcome", {"name": "A"})
    assert "DM_NOTIFY_DAILY_LIMIT (2 emails a day" in str(info.value) and "00:00 UTC" in str(info.value)
    assert "person-3" not in str(info.value)
    assert len(sim.messages()) == 2


def test_an_email_notify_refused_gives_its_count_back(paced_app: Callable[..., Flask], sim: Any) -> None:
    app = paced_app(DM_NOTIFY_DAILY_LIMIT=1, DM_EMAIL_OUTBOX_URL="off")
    with app.app_context():
        with pytest.raises(Exception, match="Missing personalisation"):
            send_email("person-1@example.gov.uk", "welcome", {})  # 400: Notify stored nothing
        send_email("person-2@example.gov.uk", "welcome", {"name": "A"})  # so the day's one is still free
        snapshot = get_state(app).pacer.snapshot()  # type: ignore[union-attr]
    assert snapshot["daily_used"] == 1 and snapshot["daily_limit"] == 1


def test_a_429_requeues_without_an_attempt_and_pushes_every_sender_back(
    paced_app: Callable[..., Flask], sim: Any
) -> None:
    from flask_dm_email.outbox.delivery import Delivery

    app = paced_app(DM_NOTIFY_RATE_LIMIT="600/60")
    dm_email = app.extensions["dm_email"]
    with app.app_context():
        email = queue_email("person@example.gov.uk", "welcome", {"name": "A"})
        sim.set_faults(force_429=1)  # something else drained Notify's bucket
        [row] = dm_email.outbox.store.claim(1, 60)
        Delivery(app, dm_email, dm_email.outbox.store).deliver(row)
        after = dm_email.pacer.snapshot()
        requeued = dm_email.outbox.store.get(email.id)
        # Back in the queue, no attempt spent; the budget has no burst left and the next
        # request waits.
        assert (requeued["status"], requeued["attempts"]) == (states.QUEUED, 0)
        assert after["tokens"] == 0 and after["wait"] > 0
        DMEmail.outbox.drain(timeout=10)
        assert DMEmail.outbox.get(email.id).status == states.SENT  # type: ignore[union-attr]
        assert [e["type"] for e in DMEmail.outbox.events(email.id)].count("rate-limited") == 1
    assert sim.stats["rate_limited"] == 1
    assert len(sim.messages()) == 1  # sent once, after the push-back


def test_notifys_own_daily_limit_holds_every_due_email_until_midnight(sim: Any, template_id: str) -> None:
    service = sim.add_service(name=f"Trial {uuid.uuid4().hex[:6]}", email_message_limit=2)
    key = sim.create_api_key(service["id"], key_type="normal")
    template = sim.add_template(service["id"], name="Welcome", subject="Hi ((name))", body="Dear ((name))")
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify", DM_NOTIFY_KEY=key, DM_NOTIFY_BASE_URL=sim.url,
                      DM_NOTIFY_TEMPLATES={"welcome": str(template)}, DM_NOTIFY_CALLBACKS_ENABLED=False)
    dm_email = DMEmail(app)
    alerts: list[dict[str, Any]] = []
    from flask_dm_email.signals import outbox_alert

    def alerted(sender: Flask, kind: str, details: dict[str, Any]) -> None:
        alerts.append({"kind": kind, **details})

    with app.app_context(), outbox_alert.connected_to(alerted, app):
        for number in range(6):
            queue_email(f"person-{number}@example.gov.uk", "welcome", {"name": "A"})
        dm_email.outbox.drain(timeout=20, threads=1)
        counts = dm_email.outbox.counts()
    # Notify said "no more today" once: the rest of the day's queue waits, nothing knocks again.
    assert sim.stats["daily_limited"] == 1
    assert len(sim.messages(service_id=service["id"])) == 2
    assert counts.get(states.HELD) == 4 and not counts.get(states.QUEUED)
    assert [a["kind"] for a in alerts] == ["daily-limit"] and alerts[0]["error_class"] == "TooManyRequestsError"
    assert alerts[0]["until"].endswith("T00:00:00+00:00")

    # Notify raises the service's limit; the operator releases the held emails. This
    # process, which Notify had refused for the rest of the day, sends them: no restart.
    sim.state.service(service["id"]).email_message_limit = 10
    with app.app_context():
        assert dm_email.outbox.release_held() == 4
        send_email("someone-now@example.gov.uk", "welcome", {"name": "A"})  # a synchronous send goes too
        dm_email.outbox.drain(timeout=20, threads=1)
        counts = dm_email.outbox.counts()
    assert len(sim.messages(service_id=service["id"])) == 7
    assert not counts.get(states.HELD) and not counts.get(states.QUEUED)


def test_an_unreachable_budget_sends_unpaced_but_never_past_a_daily_limit(
    paced_app: Callable[..., Flask], sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app = paced_app(DM_EMAIL_LIMITER_URL=nowhere, DM_EMAIL_OUTBOX_URL="off")
    with app.app_context(), caplog.at_level(logging.ERROR, "flask_dm_email.pacing"):
        send_email("person@example.gov.uk", "welcome", {"name": "A"})
    assert len(sim.messages()) == 1
    assert any("could not be reached" in r.getMessage() and "127.0.0.1:1" in r.getMessage() for r in caplog.records)

    counted = paced_app(DM_EMAIL_LIMITER_URL=nowhere, DM_EMAIL_OUTBOX_URL="off", DM_NOTIFY_DAILY_LIMIT=10)
    with counted.app_context(), pytest.raises(EmailUnavailableError, match="DM_NOTIFY_DAILY_LIMIT cannot be kept"):
        send_email("person@example.gov.uk", "welcome", {"name": "A"})
    assert len(sim.messages()) == 1


def test_the_log_and_memory_backends_are_not_paced(make_app: Callable[..., Flask]) -> None:
    app = make_app(DM_NOTIFY_RATE_LIMIT="1/60", DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE_ID})
    with app.app_context():
        for number in range(5):
            send_email(f"person-{number}@example.gov.uk", "welcome", {"name": "A"})
    assert get_state(app).pacer is None


def test_a_stopping_worker_stops_waiting_for_its_turn_in_the_budget(
    paced_app: Callable[..., Flask], sim: Any
) -> None:
    """SIGTERM while the worker's threads wait for slots ~10 s apart: the worker stops at
    once (a platform kills it after a few seconds' grace), the rows go back unsent, no
    attempt spent, for the next worker."""
    import time

    from flask_dm_email.outbox.worker import Worker

    app = paced_app(DM_NOTIFY_RATE_LIMIT="6/60", DM_NOTIFY_RATE_BURST=0)  # a new budget starts two slots in
    with app.app_context():
        ids = [queue_email(f"person-{n}@example.gov.uk", "welcome", {"name": "A"}).id for n in range(6)]
    worker = Worker(app, threads=3, poll=0.1, listen=False)
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()
    time.sleep(1.5)  # every thread is waiting for its turn
    started = time.monotonic()
    worker.stop()
    running.join(15)
    assert not running.is_alive()
    worker.close()
    assert time.monotonic() - started < 3, "the stop waited for the budget"
    with app.app_context():
        rows = [DMEmail.outbox.get(row_id) for row_id in ids]
    assert {(row.status, row.attempts) for row in rows} == {(states.QUEUED, 0)}  # type: ignore[union-attr]
    assert sim.messages() == []
