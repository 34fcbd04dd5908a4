"""The Celery adapter on real brokers with Celery's own test worker: every queued email
reaches Notify (the simulator, over HTTP) exactly once, whatever the broker does with
the task messages."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import update

from flask_dm_email import DMEmail, EmailConfigError, queue_email
from flask_dm_email.celery_adapter import CeleryTasks, beat_schedule, init_celery
from flask_dm_email.helpers import hash_string
from flask_dm_email.outbox import states
from flask_dm_email.outbox.claim_one import claim_one
from flask_dm_email.outbox.tables import outbox

from ..outbox.conftest import on_simulator
from .conftest import Broker, make_celery, on_both_databases, wait_for_status

AppFor = Callable[..., tuple[Flask, CeleryTasks]]


def queue(app: Flask, count: int, **kwargs: Any) -> list[Any]:
    with app.app_context():
        return [queue_email(f"person{n}@gov.uk", "welcome", {"name": f"Person {n}"}, **kwargs) for n in range(count)]


def sent_once_each(sim: Any, emails: list[Any]) -> bool:
    return all(len(on_simulator(sim, e.notify_reference)) == 1 for e in emails)


@on_both_databases
@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_queued_emails_are_delivered_exactly_once_by_celery(
    kind: str, make_broker: Callable[[str], Broker], make_outbox_app: Callable[..., Flask], sim: Any
) -> None:
    broker = make_broker(kind)
    app = make_outbox_app()
    init_celery(broker.celery, app)
    with broker.worker():
        emails = queue(app, 12)
        found = wait_for_status(app, [e.id for e in emails], states.SENT)
    assert set(found.values()) == {states.SENT}
    assert sent_once_each(sim, emails)
    assert len(sim.messages()) == 12


@on_both_databases
def test_a_task_delivered_again_sends_nothing_twice(celery_app_for: AppFor, broker: Broker, sim: Any) -> None:
    app, tasks = celery_app_for()
    [email] = queue(app, 1)
    # The broker hands the same task out four times, at once, to four worker threads.
    for _ in range(3):
        tasks.deliver.apply_async((email.id,))
    with broker.worker(concurrency=4):
        wait_for_status(app, [email.id], states.SENT)
        # The last copy is a no-op: the row is taken, then sent.
        with app.app_context():
            assert tasks.deliver(email.id) is None
    assert len(on_simulator(sim, email.notify_reference)) == 1
    with app.app_context():
        kinds = [e["type"] for e in DMEmail.outbox.events(email.id)]
    assert kinds.count("claimed") == 1 and kinds.count("sent") == 1


def test_nothing_personal_travels_in_the_task_message(celery_app_for: AppFor, broker: Broker) -> None:
    app, _ = celery_app_for()
    with app.app_context():
        email = queue_email("ada.lovelace@gov.uk", "welcome", {"name": "Augusta Ada King"}, reference="signup-1234")
    [message] = broker.held()
    everything = repr(message)
    for personal in ("ada.lovelace", "Augusta", hash_string("ada.lovelace@gov.uk"), "signup-1234"):
        assert personal not in everything
    args, kwargs, _ = json.loads(message["body"])
    assert (args, kwargs) == ([email.id], {})
    assert message["headers"]["task"] == "flask_dm_email.deliver"


def test_nothing_personal_travels_over_rabbitmq_either(
    make_broker: Callable[[str], Broker], make_outbox_app: Callable[..., Flask]
) -> None:
    broker = make_broker("rabbitmq")
    app = make_outbox_app()
    init_celery(broker.celery, app)
    with app.app_context():
        email = queue_email("ada.lovelace@gov.uk", "welcome", {"name": "Augusta Ada King"})
    [message] = broker.held()
    assert "ada.lovelace" not in repr(message) and "Augusta" not in repr(message)
    assert json.loads(message["body"])[0] == [email.id]


def test_the_sweep_delivers_emails_whose_task_was_lost(celery_app_for: AppFor, broker: Broker, sim: Any) -> None:
    app, tasks = celery_app_for()
    emails = queue(app, 3)
    assert broker.purge() == 3  # the broker lost every task
    with broker.worker():
        assert set(wait_for_status(app, [e.id for e in emails], states.SENT, timeout=1).values()) == {states.QUEUED}
        tasks.sweep.apply_async()
        found = wait_for_status(app, [e.id for e in emails], states.SENT)
    assert set(found.values()) == {states.SENT}
    assert sent_once_each(sim, emails)


def test_the_sweep_leaves_an_email_whose_task_is_on_its_way(celery_app_for: AppFor, sim: Any) -> None:
    app, tasks = celery_app_for(sweep_grace=600)
    [email] = queue(app, 1)
    assert tasks.sweep() == 0
    assert wait_for_status(app, [email.id], states.SENT, timeout=0) == {email.id: states.QUEUED}
    assert sim.messages() == []


@on_both_databases
def test_the_sweep_takes_over_from_a_worker_that_died(celery_app_for: AppFor, broker: Broker, sim: Any) -> None:
    app, tasks = celery_app_for()
    [email] = queue(app, 1)
    broker.purge()
    with app.app_context():
        store = app.extensions["dm_email"].outbox.store
        assert claim_one(store, email.id, lease_seconds=0.0) is not None  # claimed, then the worker died
        assert tasks.deliver(email.id) is None  # its lease still holds it
    with broker.worker():
        tasks.sweep.apply_async()
        assert wait_for_status(app, [email.id], states.SENT) == {email.id: states.SENT}
    assert len(on_simulator(sim, email.notify_reference)) == 1
    with app.app_context():
        assert "lease-expired" in [e["type"] for e in DMEmail.outbox.events(email.id)]


def test_an_email_scheduled_soon_is_delivered_when_due(celery_app_for: AppFor, broker: Broker, sim: Any) -> None:
    app, _ = celery_app_for(sweep_grace=600)
    [email] = queue(app, 1, send_after=1.0)
    with broker.worker():
        # Its first task finds it not yet due and sends itself again for when it is.
        assert wait_for_status(app, [email.id], states.SENT) == {email.id: states.SENT}
    assert len(on_simulator(sim, email.notify_reference)) == 1


def test_a_paused_outbox_is_left_alone(celery_app_for: AppFor, sim: Any) -> None:
    app, tasks = celery_app_for()
    [email] = queue(app, 1)
    with app.app_context():
        DMEmail.outbox.pause()
        assert tasks.deliver(email.id) is None
        assert tasks.sweep() == 0
        DMEmail.outbox.resume()
        assert tasks.sweep() == 1
    assert len(on_simulator(sim, email.notify_reference)) == 1


def test_a_retry_is_sent_again_when_due(celery_app_for: AppFor, broker: Broker, sim: Any) -> None:
    app, _ = celery_app_for(sweep_grace=600)
    sim.set_faults(error_next=2)  # two 500s before Notify stores anything
    [email] = queue(app, 1)
    with broker.worker():
        assert wait_for_status(app, [email.id], states.SENT) == {email.id: states.SENT}
    assert len(on_simulator(sim, email.notify_reference)) == 1
    with app.app_context():
        assert [e["type"] for e in DMEmail.outbox.events(email.id)].count("claimed") == 3


def test_an_operator_retry_sends_a_task(celery_app_for: AppFor, broker: Broker, sim: Any) -> None:
    app, _ = celery_app_for(sweep_grace=600)
    with app.app_context():
        email = queue_email("someone@gov.uk", "welcome")  # no name: Notify answers 400
    with broker.worker():
        assert wait_for_status(app, [email.id], states.FAILED) == {email.id: states.FAILED}
        with app.app_context():
            DMEmail.outbox.retry(email.id)
        found = wait_for_status(app, [email.id], states.FAILED)
        with app.app_context():
            kinds = [e["type"] for e in DMEmail.outbox.events(email.id)]
    assert found == {email.id: states.FAILED}
    assert kinds[kinds.index("operator-retry"):] == ["operator-retry", "claimed", "failed"]


def test_housekeeping_asks_notify_about_emails_it_never_called_back_about(
    celery_app_for: AppFor, broker: Broker, sim: Any
) -> None:
    app, tasks = celery_app_for()
    [email] = queue(app, 1)
    with broker.worker():
        assert wait_for_status(app, [email.id], states.SENT) == {email.id: states.SENT}
        with app.app_context():
            sent = DMEmail.outbox.get(email.id)
        assert sent is not None and sent.notify_id is not None
        sim.wait_for_status(sent.notify_id, "delivered")
        with app.app_context():
            assert tasks.housekeeping() == {"statuses_moved": 0, "purged": 0}  # too soon to ask
            store = app.extensions["dm_email"].outbox.store
            with store.db.begin() as conn:  # ten minutes on, and no receipt came
                conn.execute(update(outbox).where(outbox.c.id == email.id)
                             .values(updated_at=outbox.c.updated_at - 600))
        tasks.housekeeping.apply_async()
        assert wait_for_status(app, [email.id], states.DELIVERED) == {email.id: states.DELIVERED}


def test_a_broker_that_is_down_fails_no_request(make_outbox_app: Callable[..., Flask], sim: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    celery = make_celery("redis://127.0.0.1:9/0", "nowhere")  # nothing listens on port 9
    celery.conf.update(task_publish_retry=False, broker_connection_timeout=1, broker_connection_max_retries=0)
    app = make_outbox_app()
    tasks = init_celery(celery, app, sweep_grace=0)
    with caplog.at_level(logging.WARNING, "flask_dm_email.outbox"):
        [email] = queue(app, 1)  # no exception: the row is the truth
    assert f"Could not pass email {email.id}" in caplog.text
    with app.app_context():
        assert tasks.sweep() == 1  # the next sweep delivers it
    assert len(on_simulator(sim, email.notify_reference)) == 1


@on_both_databases
class TestTransactions:
    """``queue_email(session=db.session)``: a task only for a committed row."""

    @pytest.fixture
    def app_and_db(self, broker: Broker, outbox_url: str, sim: Any, template_id: str) -> Any:
        db = SQLAlchemy()
        app = Flask(__name__)
        app.config.update(
            SQLALCHEMY_DATABASE_URI=outbox_url, DM_ENVIRONMENT="test", DM_EMAIL_BACKEND="notify",
            DM_NOTIFY_KEY=sim.create_api_key(key_type="test"), DM_NOTIFY_BASE_URL=sim.url,
            DM_NOTIFY_TEMPLATES={"welcome": template_id}, DM_EMAIL_OUTBOX_URL="sqlalchemy",
        )
        db.init_app(app)
        dm_email = DMEmail(app)
        with app.app_context():
            dm_email.outbox.create_tables()
        init_celery(broker.celery, app)
        yield app, db
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    def test_a_rolled_back_email_sends_no_task_and_nothing(self, app_and_db: Any, broker: Broker, sim: Any) -> None:
        app, db = app_and_db
        with app.app_context():
            queue_email("rolled.back@gov.uk", "welcome", {"name": "Ada"}, session=db.session)
            assert broker.held() == []  # nothing before the commit
            db.session.rollback()
            db.session.commit()  # a later commit of the same session is not this email's
            kept = queue_email("kept@gov.uk", "welcome", {"name": "Ada"}, session=db.session)
            db.session.commit()
        [message] = broker.held()
        assert json.loads(message["body"])[0] == [kept.id]
        broker.celery.send_task("flask_dm_email.deliver", (kept.id,))  # held() took it off the queue
        with broker.worker():
            assert wait_for_status(app, [kept.id], states.SENT) == {kept.id: states.SENT}
        assert len(sim.messages()) == 1
        assert sim.messages()[0]["reference"] == kept.notify_reference


def test_without_celery_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                  make_outbox_app: Callable[..., Flask]) -> None:
    monkeypatch.setitem(__import__("sys").modules, "celery", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'flask-dm-email\[celery\]'"):
        init_celery(object(), make_outbox_app())


def test_one_flask_app_per_celery_app_and_the_other_way_round(
    celery_app_for: AppFor, broker: Broker, make_broker: Callable[[str], Broker],
    make_outbox_app: Callable[..., Flask],
) -> None:
    app, _ = celery_app_for()
    with pytest.raises(RuntimeError, match="already called for this Flask app"):
        init_celery(make_broker("redis").celery, app)
    with pytest.raises(RuntimeError, match="already called for this Celery app"):
        init_celery(broker.celery, make_outbox_app())


def test_bad_arguments_are_named(make_outbox_app: Callable[..., Flask], broker: Broker) -> None:
    with pytest.raises(ValueError, match="sweep_limit"):
        init_celery(broker.celery, make_outbox_app(), sweep_limit=0)
    with pytest.raises(ValueError, match="housekeeping_every"):
        beat_schedule(housekeeping_every=-1)
    no_outbox = Flask(__name__)
    no_outbox.config.update(DM_ENVIRONMENT="test", DM_EMAIL_OUTBOX_URL="off")
    DMEmail(no_outbox)
    with pytest.raises(EmailConfigError) as info:
        init_celery(broker.celery, no_outbox)
    assert info.value.problems[0][0] == "DM_EMAIL_OUTBOX_URL"
