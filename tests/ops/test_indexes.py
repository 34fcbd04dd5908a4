"""The status page's indexes reach an outbox made by an earlier version: create_tables
adds what is missing and leaves the rest (and the rows) alone."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import inspect, text

from flask_dm_email import DMEmail, queue_email

from .conftest import KIM

NEW = {"ix_dm_email_outbox_service_status", "ix_dm_email_outbox_service_created",
       "ix_dm_email_outbox_service_final"}


def test_create_tables_adds_the_newer_indexes_to_an_existing_outbox(page_app: Callable[..., Flask]) -> None:
    app = page_app()
    engine = app.extensions["dm_email"].outbox.database.engine
    with app.app_context():
        email = queue_email(KIM, "welcome", {"name": "Kim"})
    with engine.begin() as conn:  # the outbox as the previous version made it
        for name in NEW:
            conn.execute(text(f"DROP INDEX {name}"))
    assert not NEW & {ix["name"] for ix in inspect(engine).get_indexes("dm_email_outbox")}
    with app.app_context():
        DMEmail.outbox.create_tables()
        DMEmail.outbox.create_tables()  # and again: nothing to do
        assert DMEmail.outbox.get(email.id) is not None
    assert {ix["name"] for ix in inspect(engine).get_indexes("dm_email_outbox")} >= NEW
