"""``dm_email.outbox.enqueue_many`` on SQLite and PostgreSQL, delivering to the simulator
over real HTTP: each recipient once, re-runs adding nothing, invalid rows reported by line
without their address, priorities, cancel and retry, retention."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text, update

from flask_dm_email import DMEmail, OutboxStateError, queue_email
from flask_dm_email.helpers import hash_string
from flask_dm_email.outbox import BulkInputError, states
from flask_dm_email.outbox.delivery import Delivery
from flask_dm_email.outbox.tables import event, outbox
from flask_dm_email.signals import email_queued
from flask_dm_email.state import get_state

from ..outbox.conftest import SAFE

Rows = list[dict[str, Any]]


def people(count: int, start: int = 0) -> Rows:
    return [{"email_address": f"person{n}@gov.uk", "name": f"Person {n}"} for n in range(start, start + count)]


def store(app: Flask) -> Any:
    return app.extensions["dm_email"].outbox.store


def rows_of(app: Flask, batch: str) -> list[Any]:
    with store(app).db.connect() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.batch_id == batch)).mappings())


def test_each_recipient_queued_once_and_a_rerun_adds_nothing(make_outbox_app: Callable[..., Flask], sim: Any) -> None:
    app = make_outbox_app()
    rows = [*people(3), {"email_address": " PERSON1@GOV.UK ", "name": "Again"}, *people(2, start=3)]
    with app.app_context():
        first = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="spring")
        assert (first.rows, first.queued, first.duplicates, first.invalid, first.already_queued) == (6, 5, 1, 0, 0)
        assert first.placeholders == ("name",)  # fetched from the simulator's template
        again = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="spring")
        assert (again.queued, again.already_queued, again.duplicates) == (0, 5, 1)
        queued = rows_of(app, "spring")
        assert len(queued) == 5
        assert {row["priority"] for row in queued} == {1}  # bulk
        assert all("@" not in row["batch_key"] for row in queued)  # a hash, not the address
        assert DMEmail.outbox.drain(timeout=30) == 5
        status = DMEmail.outbox.batch("spring")
    sent = sim.messages()
    assert sorted(m["email_address"] for m in sent) == [f"person{n}@gov.uk" for n in range(5)]
    # The first row of a recipient wins: person1 is greeted as in their first row.
    assert {m["personalisation"]["name"] for m in sent if m["email_address"] == "person1@gov.uk"} == {"Person 1"}
    assert status is not None and status.total == 5 and status.counts == {states.SENT: 5}
    assert status.waiting == 0 and status.eta_seconds == 0.0


def test_a_recipient_repeated_in_a_later_chunk_counts_as_a_duplicate_on_every_run(
    make_outbox_app: Callable[..., Flask]
) -> None:
    app = make_outbox_app()
    rows = [*people(1500), {"email_address": "Person3@gov.uk", "name": "Again"}]  # row 1,501: the second chunk
    with app.app_context():
        for run in range(2):
            result = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="big")
            assert (result.queued, result.already_queued, result.duplicates) == (
                (1500, 0, 1) if run == 0 else (0, 1500, 1))
        dry = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="big", dry_run=True)
        assert (dry.queued, dry.already_queued, dry.duplicates) == (0, 1500, 1)
        assert len(rows_of(app, "big")) == 1500


def test_invalid_rows_are_reported_by_line_without_the_address(make_outbox_app: Callable[..., Flask],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    app = make_outbox_app(DM_NOTIFY_ALLOWED_RECIPIENTS="@gov.uk")
    rows = [
        {"email_address": "good@gov.uk", "name": "A"},
        {"email_address": "not-an-address", "name": "B"},
        {"email_address": "someone@elsewhere.org", "name": "C"},
        {"email_address": "x@gov.uk", "name": ""},
        {"email_address": "y@gov.uk"},
        {"email_address": "", "name": "E"},
        {"email_address": "z@gov.uk", "name": "F"},
    ]
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        result = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="b")
    assert (result.queued, result.invalid) == (2, 5)
    reasons = {error.line: error.reason for error in result.errors}
    assert sorted(reasons) == [3, 4, 5, 6, 7]  # the first mapping is line 2, as under a CSV header
    assert "not a valid email address" in reasons[3] and hash_string("not-an-address") in reasons[3]
    assert "DM_NOTIFY_ALLOWED_RECIPIENTS" in reasons[4]
    assert "'name' column is empty" in reasons[5]
    assert "columns differ" in reasons[6] and "'name'" in reasons[6]
    assert "'email_address' column is empty" in reasons[7]
    shown = json.dumps(result.as_dict()) + caplog.text
    for row in rows:
        local = str(row["email_address"]).split("@")[0]
        assert not local or f"{local}@" not in shown


def test_the_template_must_match_the_columns_before_anything_is_queued(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        with pytest.raises(BulkInputError, match=r"needs \(\(name\)\), but there is no column"):
            DMEmail.outbox.enqueue_many([{"email_address": "a@gov.uk"}], template="welcome", batch="b")
        with pytest.raises(BulkInputError, match=r"no placeholder for the column\(s\) 'team'"):
            DMEmail.outbox.enqueue_many([{"email_address": "a@gov.uk", "Name": "A", "team": "T"}],
                                        template="welcome", batch="b")
        with pytest.raises(BulkInputError, match="no 'email' column"):
            DMEmail.outbox.enqueue_many(people(1), template="welcome", batch="b", email_column="email")
        with pytest.raises(BulkInputError, match="batch must be a name"):
            DMEmail.outbox.enqueue_many(people(1), template="welcome", batch="two words")
        assert rows_of(app, "b") == []
        # Notify matches placeholders ignoring case, spaces, '_' and '-': so does the check.
        assert DMEmail.outbox.enqueue_many([{"email_address": "a@gov.uk", "NAME": "A"}], template="welcome",
                                           batch="b").queued == 1


def test_a_dry_run_counts_what_would_happen_and_queues_nothing(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()  # example.com is redirected to a safe address on this stage
    rows = [*people(2), {"email_address": "someone@example.com", "name": "X"}, people(1)[0]]
    with app.app_context():
        DMEmail.outbox.enqueue_many(people(1), template="welcome", batch="b")
        result = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="b", dry_run=True)
        assert result.dry_run and (result.queued, result.already_queued, result.duplicates) == (2, 1, 1)
        assert result.redirected == 1
        assert len(rows_of(app, "b")) == 1


def test_a_transactional_email_behind_50000_bulk_rows_goes_in_the_first_claim(
    make_outbox_app: Callable[..., Flask], sim: Any
) -> None:
    app = make_outbox_app()

    def rows() -> Iterator[dict[str, str]]:  # a generator: nothing holds the 50,000
        for n in range(50_000):
            yield {"email_address": f"supplier{n}@gov.uk", "name": f"Supplier {n}"}

    with app.app_context():
        assert DMEmail.outbox.enqueue_many(rows(), template="welcome", batch="framework").queued == 50_000
        reset = queue_email("forgot@gov.uk", "welcome", {"name": "F"})
        runtime = get_state(app).outbox
        claimed = runtime.store.claim(1, runtime.settings.lease_seconds)
        assert [row["id"] for row in claimed] == [reset.id]
        assert Delivery(app, get_state(app), runtime.store).deliver(claimed[0]) == states.SENT
    assert [m["email_address"] for m in sim.messages()] == ["forgot@gov.uk"]


def test_cancel_and_retry_failed_act_on_the_whole_batch(make_outbox_app: Callable[..., Flask], sim: Any,
                                                        template_id: str) -> None:
    app = make_outbox_app(DM_EMAIL_RETRY_SCHEDULE="0")
    with app.app_context():
        DMEmail.outbox.enqueue_many(people(3), template="welcome", batch="failing")
        # The template gains a placeholder after the rows were checked: Notify refuses them.
        sim.update_template(template_id, body="Dear ((name)), ((code))")
        DMEmail.outbox.drain(timeout=30)
        assert DMEmail.outbox.batch("failing").counts == {states.FAILED: 3}  # type: ignore[union-attr]
        sim.update_template(template_id, body="Dear ((name))")
        # Rows given: only their recipients' failed emails, with the rows' values.
        assert DMEmail.outbox.retry_batch("failing", [{"email_address": "person0@gov.uk", "name": "P0"}]) == 1
        # None given: the rest, as they were queued (a failed email keeps its personalisation).
        assert DMEmail.outbox.retry_batch("failing") == 2
        assert {e.notify_reference.endswith("-2") for e in DMEmail.outbox.find(batch="failing")} == {True}
        DMEmail.outbox.drain(timeout=30)
        assert DMEmail.outbox.batch("failing").counts == {states.SENT: 3}  # type: ignore[union-attr]
        bodies = {m["email_address"]: m["body"] for m in sim.messages()}
        assert bodies == {"person0@gov.uk": "Dear P0", "person1@gov.uk": "Dear Person 1",
                          "person2@gov.uk": "Dear Person 2"}
        assert DMEmail.outbox.retry_batch("failing", people(3)) == 0  # nothing failed now
        assert DMEmail.outbox.retry_batch("failing") == 0

        DMEmail.outbox.enqueue_many(people(4), template="welcome", batch="cancelled")
        assert DMEmail.outbox.cancel_batch("cancelled") == 4
        assert DMEmail.outbox.batch("cancelled").cancelled  # type: ignore[union-attr]
        with pytest.raises(BulkInputError, match="was cancelled"):
            DMEmail.outbox.enqueue_many(people(5), template="welcome", batch="cancelled")
        assert DMEmail.outbox.drain(timeout=30) == 0
        ids = [row["id"] for row in rows_of(app, "cancelled")]
        with store(app).db.connect() as conn:
            kinds = conn.execute(select(event.c.type).where(event.c.outbox_id.in_(ids))).scalars().all()
    assert sorted(kinds) == ["cancelled"] * 4 + ["queued"] * 4
    assert len(sim.messages()) == 3
    assert sorted(m["personalisation"]["name"] for m in sim.messages()) == ["P0", "Person 1", "Person 2"]


def test_failed_emails_left_without_personalisation_by_an_earlier_version_need_the_rows(
    make_outbox_app: Callable[..., Flask], sim: Any, template_id: str
) -> None:
    app = make_outbox_app(DM_EMAIL_RETRY_SCHEDULE="0")
    with app.app_context():
        DMEmail.outbox.enqueue_many(people(2), template="welcome", batch="old")
        sim.update_template(template_id, body="Dear ((name)), ((code))")
        DMEmail.outbox.drain(timeout=30)
        sim.update_template(template_id, body="Dear ((name))")
        with store(app).db.begin() as conn:  # what the worker used to do when an email failed
            conn.execute(update(outbox).where(outbox.c.batch_id == "old").values(personalisation=None))
        with pytest.raises(OutboxStateError, match=r"2 of batch 'old'.*--csv FILE"):
            DMEmail.outbox.retry_batch("old")
        assert DMEmail.outbox.retry_batch("old", people(2)) == 2
        DMEmail.outbox.drain(timeout=30)
    assert sorted(m["body"] for m in sim.messages()) == ["Dear Person 0", "Dear Person 1"]


def test_a_value_that_cannot_travel_as_json_is_an_invalid_row(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        rows = [{"email_address": "a@gov.uk", "name": "A"}, {"email_address": "b@gov.uk", "name": float("nan")}]
        result = DMEmail.outbox.enqueue_many(rows, template="welcome", batch="nan")
    assert (result.queued, result.invalid) == (1, 1)
    assert result.errors[0].line == 3 and "personalisation 'name'" in result.errors[0].reason


def test_bulk_rows_are_purged_after_retention_and_announced(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app(DM_EMAIL_RETENTION_DAYS=1)
    heard: list[Any] = []
    with app.app_context(), email_queued.connected_to(lambda _app, email: heard.append(email), app):
        DMEmail.outbox.enqueue_many(people(2), template="welcome", batch="b")
        DMEmail.outbox.drain(timeout=30)
        with store(app).db.begin() as conn:
            conn.execute(update(outbox).values(final_at=text("0"), status=states.DELIVERED))
        assert DMEmail.outbox.purge() == 2
        purged = rows_of(app, "b")
    assert [row["to_address"] for row in purged] == [None, None]
    assert [row["personalisation"] for row in purged] == [None, None]
    assert sorted(e.to_hash for e in heard) == sorted(hash_string(f"person{n}@gov.uk") for n in range(2))
    assert all(row["to_hash"] and row["batch_key"] for row in purged)


def test_redirected_rows_go_to_the_safe_address(make_outbox_app: Callable[..., Flask], sim: Any) -> None:
    app = make_outbox_app()
    with app.app_context():
        result = DMEmail.outbox.enqueue_many(
            [{"email_address": f"p{n}@example.com", "name": "P"} for n in range(3)], template="welcome", batch="r")
        DMEmail.outbox.drain(timeout=30)
    assert (result.queued, result.redirected) == (3, 3)
    assert [m["email_address"] for m in sim.messages()] == [SAFE] * 3


def test_a_bulk_row_reads_back_as_it_was_given(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    rows = [{"email_address": " Mixed.Case@Gov.UK", "name": 'Zoë "Q", Ltd'},
            {"email_address": "plain@gov.uk", "name": 7}]
    with app.app_context():
        DMEmail.outbox.enqueue_many(rows, template="welcome", batch="first")
        time.sleep(0.002)
        DMEmail.outbox.enqueue_many(people(3), template="welcome", batch="later")
        found = {row["to_address"]: row for row in rows_of(app, "first")}
        later = rows_of(app, "later")
    mixed, plain = found["Mixed.Case@Gov.UK"], found["plain@gov.uk"]
    assert (mixed["personalisation"], plain["personalisation"]) == ({"name": 'Zoë "Q", Ltd'}, {"name": 7})
    assert mixed["to_hash"] == hash_string("Mixed.Case@Gov.UK")
    assert mixed["batch_key"] == hash_string("mixed.case@gov.uk")
    assert plain["to_hash"] == plain["batch_key"] == hash_string("plain@gov.uk")
    assert (mixed["redirected"], mixed["status"], mixed["generation"]) == (False, states.QUEUED, 1)
    for row in (*found.values(), *later):
        assert row["notify_reference"] == f"{row['reference']}-{row['id']}"
        assert uuid.UUID(row["id"]).version == 7 and str(uuid.UUID(row["id"])) == row["id"]
    # Time-ordered ids: a later batch's rows sort after an earlier one's (the primary-key
    # index is appended to, not rewritten at random).
    assert max(row["id"] for row in found.values()) < min(row["id"] for row in later)


def test_sqlite_connections_keep_their_page_cache_size_after_a_bulk_send(make_outbox_app: Callable[..., Flask]) -> None:
    app = make_outbox_app()
    with app.app_context():
        if store(app).db.dialect != "sqlite":
            pytest.skip("a SQLite setting")
        with store(app).db.connect() as conn:
            before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        assert DMEmail.outbox.enqueue_many(people(1200), template="welcome", batch="b").queued == 1200
        with store(app).db.connect() as conn:  # the pool's one connection, used for every chunk
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
