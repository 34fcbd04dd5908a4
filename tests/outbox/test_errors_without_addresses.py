"""A database error's message never quotes an address (or personalisation): the engines
the outbox makes hide their statements' parameters, so a logged traceback stays clean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.exc import DBAPIError

from flask_dm_email import queue_email


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_failed_insert_does_not_quote_the_address(make_app: Callable[..., Flask], tmp_path: Path,
                                                     where: str) -> None:
    # No tables: the insert fails inside the database.
    url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}" if where == "file" else "sqlite://"
    app = make_app(DM_EMAIL_OUTBOX_URL=url, DM_NOTIFY_TEMPLATES={"welcome": "f33517ff-2a88-4f6e-b855-c550268ce08a"})
    with app.app_context(), pytest.raises(DBAPIError) as info:
        queue_email("secret.person@example.gov.uk", "welcome", {"name": "Ada Lovelace"})
    message = str(info.value)
    assert "INSERT INTO dm_email_outbox" in message
    assert "secret.person" not in message and "Ada Lovelace" not in message
