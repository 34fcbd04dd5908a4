"""``flask dm-email bulk send`` with CSV files as people's tools write them: each odd file
gets its documented outcome, with a message and exit 1 (never a traceback) for a file
that cannot be used, and nothing half-queued."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.cli import ScriptInfo

from flask_dm_email import DMEmail
from flask_dm_email.cli import dm_email_cli
from flask_dm_email.helpers import hash_string

Write = Callable[..., Path]


@pytest.fixture
def app(make_outbox_app: Callable[..., Flask]) -> Flask:
    return make_outbox_app()


def bulk(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(dm_email_cli, ["bulk", *args], obj=ScriptInfo(create_app=lambda: app))


def send(app: Flask, path: Path, *extra: str) -> Result:
    return bulk(app, "send", "--template", "welcome", "--csv", str(path), "--batch", "news", *extra)


def counts(app: Flask, *extra: str) -> dict[str, Any]:
    result = bulk(app, "status", "news", "--json", *extra)
    return json.loads(result.output)["counts"] if result.exit_code == 0 else {}


def queued(app: Flask) -> int:
    return sum(counts(app).values())


def test_bom_crlf_blank_lines_and_quoted_commas(app: Flask, write_csv: Write, sim: Any) -> None:
    path = write_csv(
        "\ufeffemail_address,name\r\n"
        "\r\n"
        'one@gov.uk,"Smith, Alex"\r\n'
        "   \r\n"
        'two@gov.uk,"Said ""hi""\r\nand left"\r\n'
        "not-an-address,Three\r\n"
        ",,\r\n"
    )
    result = send(app, path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["rows"], report["queued"], report["invalid"]) == (3, 2, 1)
    # Line numbers count physical lines: the quoted line break is inside line 5's row.
    assert [e["line"] for e in report["errors"]] == [7]
    with app.app_context():
        DMEmail.outbox.drain(timeout=30)
    names = sorted(m["personalisation"]["name"] for m in sim.messages())
    assert names == ['Said "hi"\r\nand left', "Smith, Alex"]


def test_invalid_and_duplicate_recipients_are_skipped_by_line_without_addresses(app: Flask, write_csv: Write) -> None:
    path = write_csv("email_address,name\na@gov.uk,A\nnobody,B\nA@GOV.UK ,C\nb@gov.uk,D,extra\nc@gov.uk,\n")
    result = send(app, path)
    assert result.exit_code == 0, result.output
    assert "line 3: the 'email_address' column is not a valid email address" in result.output
    assert f"(address hash {hash_string('nobody')})" in result.output
    assert "line 5: it has 3 fields but the header has 2" in result.output
    assert "line 6: the 'name' column is empty" in result.output
    assert re.search(r"^duplicate recipients, skipped +1$", result.output, re.M)
    assert "@" not in result.output and "nobody" not in result.output.replace(hash_string("nobody"), "")
    assert queued(app) == 1


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"email_address,name\na@gov.uk,A\nb@gov.uk,Bj\xf6rk\n", (), "line 3 is not UTF-8"),
        (b'email_address,name\na@gov.uk,A\nb@gov.uk,"unclosed\n', (), "line 3 cannot be read as CSV"),
        (b"email_address\na@gov.uk\n", (), "needs ((name)), but there is no column"),
        (b"email_address,name,team\na@gov.uk,A,T\n", (), "no placeholder for the column(s) 'team'"),
        (b"email,name\na@gov.uk,A\n", (), "There is no 'email_address' column (the columns are 'email', 'name')"),
        (b"email,name\na@gov.uk,A\n", ("--email-column", "mail"), "There is no 'mail' column"),
        (b"", (), "is empty: its first line must name the columns"),
        (b"email_address,name,name\n", (), "names 'name' more than once"),
    ],
    ids=["not-utf-8", "bad-quoting", "missing-placeholder", "unused-column", "no-email-column",
         "unknown-email-column", "empty", "repeated-column"],
)
def test_a_file_that_cannot_be_used_queues_nothing(app: Flask, write_csv: Write, content: bytes,
                                                    extra: tuple[str, ...], message: str) -> None:
    result = send(app, write_csv(content), *extra)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output and "@" not in result.output
    assert queued(app) == 0


def test_a_missing_file_is_named(app: Flask, tmp_path: Path) -> None:
    result = send(app, tmp_path / "nope.csv")
    assert result.exit_code == 1 and "nope.csv: no such file" in result.output


def test_dry_run_validates_counts_and_queues_nothing(app: Flask, write_csv: Write) -> None:
    path = write_csv("email_address,name\na@gov.uk,A\nb@example.com,B\nbad,C\na@gov.uk,D\n")
    result = send(app, path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing queued" in result.output
    assert re.search(r"^would be queued +2$", result.output, re.M)
    assert re.search(r"^would be redirected on this stage +1$", result.output, re.M)
    assert "line 4:" in result.output
    assert bulk(app, "status", "news").exit_code == 1  # not even the batch was recorded


def test_status_cancel_and_retry_from_the_command_line(app: Flask, write_csv: Write) -> None:
    path = write_csv("email_address,name\na@gov.uk,A\nb@gov.uk,B\n")
    assert send(app, path).exit_code == 0
    status = bulk(app, "status", "news")
    assert status.exit_code == 0 and re.search(r"^queued +2$", status.output, re.M)
    assert "ETA: none, nothing was sent in the last minute" in status.output
    cancelled = bulk(app, "cancel", "news")
    assert cancelled.exit_code == 0 and "Cancelled 2 email(s)" in cancelled.output
    assert counts(app) == {"cancelled": 2}
    again = send(app, path)
    assert again.exit_code == 1 and "was cancelled" in again.output
    assert bulk(app, "retry-failed", "news").exit_code == 1
    unknown = bulk(app, "status", "other")
    assert unknown.exit_code == 1 and "No batch 'other'" in unknown.output
    assert bulk(app, "cancel", "other").exit_code == 1
