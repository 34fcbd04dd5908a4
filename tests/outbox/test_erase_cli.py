"""``flask dm-email outbox erase --address``, run as an operator runs it: in a subprocess,
with and without a terminal (a real pseudo-terminal for the confirmation)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from flask_dm_email.helpers import hash_string

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "flask", "--app", "tests.outbox.crash_app:create_app", "dm-email", "outbox"]


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The command without a terminal: standard input is a pipe holding ``stdin``."""
    return subprocess.run([*COMMAND, *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True,
                          timeout=60)


def on_a_terminal(env: dict[str, str], *args: str, answer: str) -> tuple[int, str, str]:
    """The command with a pseudo-terminal as standard input, answering its question."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([*COMMAND, *args], cwd=ROOT, env=env, stdin=terminal, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        os.write(controller, answer.encode() + b"\n")
        out, err = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    return process.returncode, out, err


def queue(env: dict[str, str], *addresses: str, claim: int = 0) -> list[str]:
    """Queue one email to each address; a worker then claims ``claim`` of them."""
    os.environ.update({k: env[k] for k in ("CRASH_NOTIFY_KEY", "CRASH_NOTIFY_URL", "CRASH_OUTBOX_URL")})
    from flask_dm_email import DMEmail, queue_email

    from .crash_app import create_app

    app = create_app()
    with app.app_context():
        DMEmail.outbox.create_tables()
        ids = [queue_email(address, env["CRASH_TEMPLATE"], {"n": "1"}).id for address in addresses]
        if claim:
            app.extensions["dm_email"].outbox.store.claim(claim, 600)
    app.extensions["dm_email"].outbox.database.engine.dispose()
    return ids


#: For behaviour that does not depend on the database (confirmation, input, output): SQLite
#: only; the erasure itself runs on both (here and in test_erase.py).
sqlite_only = pytest.mark.parametrize("outbox_url", ["sqlite"], indirect=True)


def counts(env: dict[str, str]) -> dict[str, int]:
    report = json.loads(run(env, "status", "--json").stdout)
    return {status: n for status, n in report["counts"].items() if n}


def test_erase_prints_the_hash_and_counts_never_the_address(env: dict[str, str]) -> None:
    queue(env, "ada@gov.uk", "ada@gov.uk", "grace@gov.uk")
    done = run(env, "erase", "--address", "Ada@GOV.UK", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"Address hash {hash_string('ada@gov.uk')}: 2 email(s) and 2 event(s) erased; 2 of the emails had not been "
        "sent yet and never will be."
    )
    assert "@" not in done.stdout + done.stderr
    assert counts(env) == {"queued": 1}  # Grace's


@sqlite_only
def test_json_for_scripts(env: dict[str, str]) -> None:
    queue(env, "ada@gov.uk")
    done = run(env, "erase", "--address", "ada@gov.uk", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "address_hash": hash_string("ada@gov.uk"), "rows": 1, "waiting": 1, "events": 1, "still_sending": 0,
        "unclear": 0, "complete": True,
    }
    assert "@" not in done.stdout


@sqlite_only
def test_without_a_terminal_it_needs_yes(env: dict[str, str]) -> None:
    queue(env, "ada@gov.uk")
    refused = run(env, "erase", "--address", "ada@gov.uk")
    assert refused.returncode == 1
    assert "Refusing to erase without confirmation" in refused.stderr and "--yes" in refused.stderr
    assert "@" not in refused.stdout + refused.stderr
    assert counts(env) == {"queued": 1}


@sqlite_only
def test_on_a_terminal_it_asks_first(env: dict[str, str]) -> None:
    queue(env, "ada@gov.uk")
    code, out, err = on_a_terminal(env, "erase", "--address", "ada@gov.uk", answer="n")
    assert code == 1 and "Nothing erased." in err
    assert f"Erase every email to the address with hash {hash_string('ada@gov.uk')}" in out
    assert "@" not in out + err
    assert counts(env) == {"queued": 1}
    code, out, err = on_a_terminal(env, "erase", "--address", "ada@gov.uk", answer="y")
    assert code == 0, err
    assert "1 email(s) and 1 event(s) erased" in out and "@" not in out + err
    assert counts(env) == {}


@sqlite_only
def test_the_address_can_come_from_standard_input(env: dict[str, str]) -> None:
    queue(env, "ada@gov.uk", "grace@gov.uk")
    done = run(env, "erase", "--address", "-", "--yes", stdin="ada@gov.uk\n")
    assert done.returncode == 0, done.stderr
    assert "1 email(s)" in done.stdout
    assert counts(env) == {"queued": 1}
    refused = run(env, "erase", "--address", "-", stdin="grace@gov.uk\n")  # no terminal left to ask on
    assert refused.returncode == 1 and "--yes" in refused.stderr


def test_emails_being_sent_are_kept_and_the_operator_told_to_run_again(env: dict[str, str]) -> None:
    queue(env, "ada@gov.uk", "ada@gov.uk", claim=1)  # a worker holds the first
    done = run(env, "erase", "--address", "ada@gov.uk", "--yes")
    assert done.returncode == 1
    assert "1 email(s) and" in done.stdout
    assert "1 email(s) to this address are being sent right now and were kept" in done.stderr
    assert "again in a minute" in done.stderr and "@" not in done.stdout + done.stderr
    assert counts(env) == {"sending-to-notify": 1}


def test_an_email_whose_worker_died_is_erased_and_called_unclear(env: dict[str, str], outbox_url: str) -> None:
    from sqlalchemy import create_engine, update

    from flask_dm_email.outbox.tables import outbox

    [dead, _] = queue(env, "ada@gov.uk", "ada@gov.uk", claim=1)  # a worker claims the first, then dies
    engine = create_engine(outbox_url)
    with engine.begin() as conn:  # its lease ran out
        conn.execute(update(outbox).where(outbox.c.id == dead).values(lease_expires_at=0))
    done = run(env, "erase", "--address", "ada@gov.uk", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"Address hash {hash_string('ada@gov.uk')}: 2 email(s) and 4 event(s) erased; 1 of the emails had not been "
        "sent yet and never will be; 1 will not be sent again but had an unclear attempt that may have reached "
        "Notify (if it did, Notify keeps its own copy)."
    )
    assert counts(env) == {}
    queue(env, "ada@gov.uk", claim=1)
    with engine.begin() as conn:
        conn.execute(update(outbox).values(lease_expires_at=0))
    engine.dispose()
    done = run(env, "erase", "--address", "ada@gov.uk", "--yes", "--json")
    assert json.loads(done.stdout)["unclear"] == 1 and json.loads(done.stdout)["waiting"] == 0


@sqlite_only
def test_not_an_address_is_refused_without_a_traceback(env: dict[str, str]) -> None:
    refused = run(env, "erase", "--address", "ada at gov.uk", "--yes")
    assert refused.returncode == 1
    assert "address is not a valid email address" in refused.stderr
    assert "Traceback" not in refused.stderr and "ada at" not in refused.stderr


@sqlite_only
def test_purge_reports_the_old_events_it_deleted(env: dict[str, str], outbox_url: str) -> None:
    from sqlalchemy import create_engine, update

    from flask_dm_email.outbox.tables import event

    [email_id] = queue(env, "ada@gov.uk")
    assert run(env, "cancel", email_id).returncode == 0
    engine = create_engine(outbox_url)
    with engine.begin() as conn:  # its events happened 91 days ago (the default retention is 90)
        conn.execute(update(event).where(event.c.outbox_id == email_id).values(at=event.c.at - 91 * 86400))
    engine.dispose()
    done = run(env, "purge")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Personal data cleared from 0 email(s); 2 old event(s) deleted."


def test_a_database_error_is_a_clear_message_without_the_address(env: dict[str, str]) -> None:
    """No tables yet (nobody ran ``outbox upgrade``): the database refuses the erasure. The
    command says so and what to do, with no traceback, whose SQL parameters would hold the
    address."""
    refused = run(env, "erase", "--address", "Ada.Lovelace@gov.uk", "--yes")
    assert refused.returncode == 1
    assert "The outbox database" in refused.stderr and "could not do this" in refused.stderr
    assert "run the command again" in refused.stderr and "flask dm-email outbox upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "lovelace" not in (refused.stdout + refused.stderr).lower()
